import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort } from "@logtally/testing";

/** Path of the Prometheus binary from the Debian package. */
export const PROMETHEUS_BINARY = "/usr/bin/prometheus";

/** A real Prometheus server scraping one target every second. */
export class PrometheusServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly output: string[],
  ) {}

  /** Starts Prometheus with `dataDir` as its storage, scraping `target` (host:port) at 1 s intervals. */
  static async start(dataDir: string, target: string): Promise<PrometheusServer> {
    if (!fs.existsSync(PROMETHEUS_BINARY)) {
      throw new Error(`${PROMETHEUS_BINARY} not found: install the Debian package prometheus (npm test does)`);
    }
    const port = await freePort();
    const config = path.join(dataDir, "prometheus.yml");
    fs.writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: logtally-aggregator",
        "    static_configs:",
        `      - targets: ["${target}"]`,
        "",
      ].join("\n"),
    );
    const child = spawn(
      PROMETHEUS_BINARY,
      [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dataDir, "tsdb")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const output: string[] = [];
    child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    return new PrometheusServer(child, `http://127.0.0.1:${port}`, output);
  }

  /** Runs an instant query; returns the result vector. */
  async query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as {
      status: string;
      data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      error?: string;
    };
    if (body.status !== "success") throw new Error(`query ${promql} failed: ${body.error}`);
    return body.data!.result;
  }

  /** What Prometheus printed, for failure messages. */
  log(): string {
    return this.output.join("");
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await exited;
  }
}

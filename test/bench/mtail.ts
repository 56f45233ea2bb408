import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { countsOf, parseExposition } from "../support/metrics";
import { track } from "./cleanup";

/** The mtail binary of Debian's `mtail` package (scripts/bench.sh installs it). */
export const MTAIL_BINARY = "/usr/bin/mtail";

/**
 * The mtail program counting what logtally counts: rows `host,job_name` by
 * pair, under the same metric name. Equivalent to logtally's parser on the
 * generated data (plain fields, no quotes, spaces or header).
 */
export const MTAIL_PROGRAM = `counter log_host_job_count by host, job_name

/^(?P<host>[^,]+),(?P<job_name>[^,]+)$/ {
  log_host_job_count[$host][$job_name]++
}
`;

/** Writes the program into `<dir>/progs/` and returns that directory (mtail's `--progs`). */
export function writeMtailProgram(dir: string): string {
  const progs = path.join(dir, "progs");
  fs.mkdirSync(progs, { recursive: true });
  fs.writeFileSync(path.join(progs, "log_host_job_count.mtail"), MTAIL_PROGRAM);
  return progs;
}

/** `mtail --version`, first line. */
export function mtailVersion(): string {
  if (!fs.existsSync(MTAIL_BINARY)) throw new Error(`${MTAIL_BINARY} not found: install the Debian package mtail (npm run bench does)`);
  return execFileSync(MTAIL_BINARY, ["--version"], { encoding: "utf8" }).split("\n")[0]!.trim();
}

/** Common flags: logs to stderr (glog would write files under /tmp otherwise), HTTP on a free loopback port. */
const COMMON_FLAGS = ["--logtostderr", "--address", "127.0.0.1", "--port", "0"];

/**
 * `mtail --one_shot`: reads `file` from start to end, prints the counts and
 * exits. Resolves with the wall time from spawn to exit and the counts
 * ("host|job_name" → rows).
 */
export async function runMtailOneShot(progs: string, file: string): Promise<{ seconds: number; counts: Map<string, number> }> {
  const startMs = performance.now();
  const child = track(
    spawn(MTAIL_BINARY, ["--one_shot", "--one_shot_format=prometheus", "--progs", progs, "--logs", file, ...COMMON_FLAGS], {
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  const stdout: Buffer[] = [];
  const stderr = new TailBuffer();
  child.stdout!.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.once("exit", (exitCode) => resolve(exitCode)));
  const seconds = (performance.now() - startMs) / 1000;
  if (code !== 0) throw new Error(`mtail --one_shot exited ${code}:\n${stderr.text()}`);
  return { seconds, counts: countsOf(parseExposition(Buffer.concat(stdout).toString("utf8"))) };
}

/** mtail following a file as a daemon, with its /metrics. */
export class MtailDaemon {
  private constructor(
    private readonly child: ChildProcess,
    /** `http://127.0.0.1:<port>/metrics`. */
    readonly metricsUrl: string,
  ) {}

  /**
   * Starts mtail on `file` (which must exist) and resolves once it serves
   * HTTP and is tailing the file. mtail starts reading an existing file at
   * its end, so what is measured is what is appended afterwards.
   */
  static async start(progs: string, file: string, timeoutMs = 30_000): Promise<MtailDaemon> {
    const child = track(spawn(MTAIL_BINARY, ["--progs", progs, "--logs", file, ...COMMON_FLAGS], { stdio: ["ignore", "ignore", "pipe"] }));
    const stderr = new TailBuffer();
    let port: number | undefined;
    let tailing = false;
    let onExit: ((code: number | null) => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`mtail did not start within ${timeoutMs} ms:\n${stderr.text()}`)), timeoutMs);
        onExit = (code) => {
          clearTimeout(timer);
          reject(new Error(`mtail exited (${code}):\n${stderr.text()}`));
        };
        child.once("exit", onExit);
        child.stderr!.on("data", (chunk: Buffer) => {
          stderr.push(chunk);
          port ??= Number(/Listening on [^\s]*:(\d+)/.exec(stderr.text())?.[1]) || undefined;
          tailing ||= stderr.text().includes(`Tailing ${file}`);
          if (port !== undefined && tailing) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    } finally {
      if (onExit) child.off("exit", onExit);
    }
    return new MtailDaemon(child, `http://127.0.0.1:${port}/metrics`);
  }

  /** The process id, to measure its CPU. */
  get pid(): number {
    return this.child.pid!;
  }

  /** The sum of every log_host_job_count series on its /metrics. */
  async totalCounted(): Promise<number> {
    const response = await fetch(this.metricsUrl);
    const text = await response.text();
    let total = 0;
    for (const match of text.matchAll(/^log_host_job_count\{[^}]*\} (\S+)$/gm)) total += Number(match[1]);
    return total;
  }

  /** Stops mtail. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGKILL");
    await exited;
  }
}

/** Keeps the last 64 KiB of a process's output, for error messages and start-up lines. */
class TailBuffer {
  private data = "";

  push(chunk: Buffer): void {
    this.data = (this.data + chunk.toString("utf8")).slice(-65_536);
  }

  text(): string {
    return this.data;
  }
}

import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { TestPostgres } from "@logtally/testing";
import { TcpFaultProxy } from "../support/tcp-proxy";

/**
 * The PostgreSQL database the aggregator replicas of a chaos scenario share:
 * a throwaway server, and a fault proxy the replicas reach it through, so
 * that their connections can be dropped or stalled. The server lives in its
 * own temp directory, removed by close(); the URL the replicas read (password
 * included) is in `storeFile`, in the scenario's directory.
 */
export class ChaosDatabase {
  private running = true;

  private constructor(
    private readonly server: TestPostgres,
    /** Between the replicas and the server. */
    readonly proxy: TcpFaultProxy,
    /** The file to pass as `--store-file`. */
    readonly storeFile: string,
    private readonly password: string,
  ) {}

  /** Starts a server with a fresh random password, its proxy, and writes `<dir>/store-url`. */
  static async start(dir: string): Promise<ChaosDatabase> {
    // Hex: nothing to escape in the URL, and never part of a file name.
    const password = randomBytes(16).toString("hex");
    const server = await TestPostgres.start({ password });
    try {
      const proxy = await TcpFaultProxy.start({ host: "127.0.0.1", port: server.port });
      const url = new URL(server.url());
      url.port = String(proxy.port);
      const storeFile = path.join(dir, "store-url");
      fs.writeFileSync(storeFile, `${url}\n`, { mode: 0o600 });
      return new ChaosDatabase(server, proxy, storeFile, password);
    } catch (error) {
      await server.destroy();
      throw error;
    }
  }

  /** Stops the server the way a crash does (`immediate`: no checkpoint, every connection gone). */
  async crash(): Promise<void> {
    this.running = false;
    await this.server.stop("immediate");
  }

  /** Starts the server again on the same port and data (crash recovery first). */
  async restart(): Promise<void> {
    await this.server.restart();
    this.running = true;
  }

  /** The proxy passing and the server running. */
  async heal(): Promise<void> {
    this.proxy.setMode({ kind: "pass" });
    if (!this.running) await this.restart();
  }

  /** Whether `text` holds the password: no log may. */
  leaks(text: string): boolean {
    return text.includes(this.password);
  }

  /** Stops the proxy and removes the server; resolves with the server's log, for a failure report. Idempotent. */
  async close(): Promise<string> {
    const log = this.server.log();
    await this.proxy.stop();
    await this.server.destroy();
    return log;
  }
}

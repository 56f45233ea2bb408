import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";

export const REPO_ROOT = path.resolve(__dirname, "../../..");
export const AGGREGATOR_MAIN = path.join(REPO_ROOT, "aggregator/dist/main.js");
export const SIDECAR_MAIN = path.join(REPO_ROOT, "sidecar/dist/main.js");
export const INJECTOR_MAIN = path.join(REPO_ROOT, "injector/dist/main.js");

/** The programs of one build of logtally: this checkout's, or another's (an earlier commit, to compare). */
export interface Programs {
  readonly aggregatorMain: string;
  readonly sidecarMain: string;
}

/** This checkout's build. */
export const THIS_BUILD: Programs = { aggregatorMain: AGGREGATOR_MAIN, sidecarMain: SIDECAR_MAIN };

/** The build in another checkout of logtally (built with `npm run build` there). */
export function programsIn(checkout: string): Programs {
  return {
    aggregatorMain: path.resolve(checkout, "aggregator/dist/main.js"),
    sidecarMain: path.resolve(checkout, "sidecar/dist/main.js"),
  };
}

/** A logtally program running as a real child process, its JSON log lines collected. */
export class RunningProcess {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters: Array<{ match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }> = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    readline.createInterface({ input: child.stderr! }).on("line", (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text };
      }
      this.logs.push(line);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(line)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    });
  }

  /** Resolves with the first log line (past or future) with this `msg`; rejects if the process exits first. */
  waitForLog(msg: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const seen = this.logs.find((line) => line.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no "${msg}" log within ${timeoutMs} ms\n${this.dump()}`)), timeoutMs);
      this.waiters.push({
        match: (line) => line.msg === msg,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) before logging "${msg}"\n${this.dump()}`));
      });
    });
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** The collected log, for failure messages. */
  dump(): string {
    return this.logs.map((line) => `  [${this.name}] ${JSON.stringify(line)}`).join("\n");
  }
}

function start(name: string, main: string, args: string[], nodeArgs: readonly string[] = []): RunningProcess {
  const child = spawn(process.execPath, [...nodeArgs, main, ...args], {
    stdio: ["ignore", "inherit", "pipe"],
    env: { ...process.env, LOGTALLY_LOG_LEVEL: "debug" },
  });
  return new RunningProcess(name, child);
}

/** A started aggregator and the ports it bound. */
export interface AggregatorProcess extends RunningProcess {
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly grpcAddress: string;
  readonly metricsUrl: string;
}

/** Starts an aggregator on `stateDir`; ports default to free ones; `extraArgs` come after the harness's own. */
export async function startAggregator(
  stateDir: string,
  {
    grpcPort = 0,
    metricsPort = 0,
    name = "aggregator",
    extraArgs = [],
    programs = THIS_BUILD,
  }: { grpcPort?: number; metricsPort?: number; name?: string; extraArgs?: string[]; programs?: Programs } = {},
): Promise<AggregatorProcess> {
  const running = start(name, programs.aggregatorMain, [
    "--grpc-listen",
    `127.0.0.1:${grpcPort}`,
    "--metrics-listen",
    `127.0.0.1:${metricsPort}`,
    "--state-dir",
    stateDir,
    "--shutdown-grace-ms",
    "1000",
    ...extraArgs,
  ]);
  const started = await running.waitForLog("aggregator started");
  const bound = { grpcPort: Number(started.grpcPort), metricsPort: Number(started.metricsPort) };
  return Object.assign(running, bound, {
    grpcAddress: `127.0.0.1:${bound.grpcPort}`,
    metricsUrl: `http://127.0.0.1:${bound.metricsPort}/metrics`,
  });
}

/** Starts a sidecar on `file`, shipping to `aggregator` (host:port) as `sourceId`. */
export function startSidecar(
  name: string,
  {
    file,
    aggregator,
    sourceId,
    extraArgs = [],
    nodeArgs = [],
    programs = THIS_BUILD,
  }: { file: string; aggregator: string; sourceId: string; extraArgs?: string[]; nodeArgs?: readonly string[]; programs?: Programs },
): RunningProcess {
  return start(
    name,
    programs.sidecarMain,
    [
      "--file",
      file,
      "--aggregator",
      aggregator,
      "--source-id",
      sourceId,
      "--sidecar-id",
      name,
      "--poll-interval-ms",
      "50",
      "--rotate-grace-ms",
      "200",
      ...extraArgs,
    ],
    nodeArgs,
  );
}

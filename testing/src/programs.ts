import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";

/** The repository's root (this package is built into testing/dist). */
export const REPO_ROOT = path.resolve(__dirname, "../..");
export const AGGREGATOR_MAIN = path.join(REPO_ROOT, "aggregator/dist/main.js");
export const SIDECAR_MAIN = path.join(REPO_ROOT, "sidecar/dist/main.js");
export const INJECTOR_MAIN = path.join(REPO_ROOT, "injector/dist/main.js");

/** Generous bound for a program to start, answer or exit; never a measurement. */
export const PROCESS_TIMEOUT_MS = 15_000;

/** The test's environment without any LOGTALLY_ variable, plus `extra`. */
export function programEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([name]) => !name.startsWith("LOGTALLY_"));
  return { ...Object.fromEntries(inherited), ...extra };
}

/** How a program that ran to completion ended. */
export interface Completed {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node main args...` to its exit, feeding `stdin`; kills it and rejects if it outlives PROCESS_TIMEOUT_MS. */
export function runToExit(
  main: string,
  args: readonly string[],
  { stdin = "", env = programEnv() }: { stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Completed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { stdio: ["pipe", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${path.relative(REPO_ROOT, main)} ${args.join(" ")} still running after ${PROCESS_TIMEOUT_MS} ms\n${stderr}`));
    }, PROCESS_TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin);
  });
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

  /**
   * Starts `node [nodeArgs] main args...` with stdout ignored and stderr (its
   * JSON log) collected; as another user when `user` is given (needs root);
   * with another Node.js binary when `node` is given.
   */
  static start(
    name: string,
    main: string,
    args: readonly string[],
    {
      env = process.env,
      nodeArgs = [],
      user,
      node = process.execPath,
    }: { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[]; user?: ProcessUser; node?: string } = {},
  ): RunningProcess {
    return new RunningProcess(name, spawn(node, [...nodeArgs, main, ...args], { stdio: ["ignore", "ignore", "pipe"], env, ...user }));
  }

  /** Resolves with the first log line (past or future) with this `msg`; rejects if the process exits first. */
  waitForLog(msg: string, timeoutMs = PROCESS_TIMEOUT_MS): Promise<Record<string, unknown>> {
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

  /** Sends a signal (unless it already exited) and waits for the exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** The collected log, for failure messages. */
  dump(): string {
    return this.logs.map((line) => `  [${this.name}] ${JSON.stringify(line)}`).join("\n");
  }
}

/** A user and group to run a process as. */
export interface ProcessUser {
  readonly uid: number;
  readonly gid: number;
}

/** Fails early, and clearly, when a program has not been built. */
export function assertBuilt(main: string): void {
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
}

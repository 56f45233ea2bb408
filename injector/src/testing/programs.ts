import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";

/** The built injector program. */
export const INJECTOR_MAIN = path.resolve(__dirname, "../../dist/main.js");

/** Generous bound for a process to answer or exit; never a measurement. */
export const PROCESS_TIMEOUT_MS = 15_000;

/** Fails early, and clearly, when the program has not been built. */
export function assertBuilt(): void {
  if (!fs.existsSync(INJECTOR_MAIN)) throw new Error(`${INJECTOR_MAIN} is missing: run npm run build first`);
}

/** The test's environment without LOGTALLY_ variables, plus `extra`. */
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

/** Runs `logtally-injector args...` to its exit, feeding `stdin`; kills it after PROCESS_TIMEOUT_MS. */
export function runInjectorProgram(args: string[], { stdin = "", env = programEnv() }: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Completed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [INJECTOR_MAIN, ...args], { stdio: ["pipe", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`logtally-injector ${args.join(" ")} still running after ${PROCESS_TIMEOUT_MS} ms\n${stderr}`));
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

/** A long-running program, its JSON log lines collected. */
export class RunningProgram {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    readline.createInterface({ input: child.stderr! }).on("line", (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text };
      }
      this.logs.push(line);
      for (const wake of [...this.waiters]) wake();
    });
  }

  /** Starts `logtally-injector args...` with stdout ignored and stderr collected. */
  static start(args: string[], env: NodeJS.ProcessEnv = programEnv()): RunningProgram {
    return new RunningProgram(spawn(process.execPath, [INJECTOR_MAIN, ...args], { stdio: ["pipe", "ignore", "pipe"], env }));
  }

  /** Resolves with the first log line with this `msg`; rejects if the process exits first or after PROCESS_TIMEOUT_MS. */
  waitForLog(msg: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const line = this.logs.find((candidate) => candidate.msg === msg);
        if (line) finish(() => resolve(line));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no "${msg}" log within ${PROCESS_TIMEOUT_MS} ms\n${this.dump()}`))), PROCESS_TIMEOUT_MS);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      void this.exited.then(({ code, signal }) => finish(() => reject(new Error(`exited (${code ?? signal}) before logging "${msg}"\n${this.dump()}`))));
      check();
    });
  }

  /** Sends `signal` (unless it already exited) and waits for the exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** The collected log, for failure messages. */
  dump(): string {
    return this.logs.map((line) => `  ${JSON.stringify(line)}`).join("\n");
  }
}

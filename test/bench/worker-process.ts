import { fork, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { track } from "./cleanup";

/** Messages every worker sends besides its own: a failure, with its stack. */
export interface WorkerFailure {
  readonly type: "failed";
  readonly error: string;
}

/**
 * A helper process of the benchmark (a writer, a sender, a counter), forked
 * from `workers/<name>.ts` with an IPC channel, so that its CPU time is its
 * own and not the measured processes' nor the measuring one's.
 */
export class WorkerProcess<Out extends { type: string }, In = never> {
  readonly child: ChildProcess;
  private readonly received: Out[] = [];
  private readonly waiters: Array<{ type: Out["type"]; resolve: (message: Out) => void; reject: (error: Error) => void }> = [];
  private failure: Error | undefined;

  constructor(name: string, init: unknown) {
    // fork() reuses this process's execArgv (`--import tsx`), so the worker can be TypeScript.
    this.child = track(fork(path.join(__dirname, "workers", `${name}.ts`), [JSON.stringify(init)], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    this.child.on("message", (message: Out | WorkerFailure) => {
      if (message.type === "failed") {
        this.fail(new Error(`worker ${name} failed: ${(message as WorkerFailure).error}`));
        return;
      }
      const waiter = this.waiters.find((candidate) => candidate.type === message.type);
      if (waiter) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message as Out);
      } else {
        this.received.push(message as Out);
      }
    });
    this.child.once("exit", (code, signal) => this.fail(new Error(`worker ${name} exited (${code ?? signal})`)));
  }

  /** Resolves with the first message of this type (past or future); rejects if the worker fails or exits first. */
  next<T extends Out["type"]>(type: T): Promise<Extract<Out, { type: T }>> {
    const index = this.received.findIndex((message) => message.type === type);
    if (index >= 0) return Promise.resolve(this.received.splice(index, 1)[0] as Extract<Out, { type: T }>);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ type, resolve: resolve as (message: Out) => void, reject }));
  }

  /** Sends a message to the worker. */
  send(message: In): void {
    this.child.send(message as object);
  }

  /** Kills the worker and waits for it to exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGKILL");
    await exited;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
  }
}

/**
 * Worker side: parses the init argument, runs `main` with a function that
 * posts messages to the parent, and reports any error before exiting 1.
 */
export function runWorker<Init, Out>(main: (init: Init, post: (message: Out) => void) => Promise<void> | void): void {
  const post = (message: Out | WorkerFailure): void => {
    process.send?.(message);
  };
  // An orphaned worker (the benchmark was killed) must not keep writing.
  process.on("disconnect", () => process.exit(0));
  Promise.resolve()
    .then(() => main(JSON.parse(process.argv[2] ?? "{}") as Init, post))
    .catch((error: unknown) => {
      post({ type: "failed", error: (error as Error)?.stack ?? String(error) });
      process.exitCode = 1;
      process.disconnect?.();
    });
}

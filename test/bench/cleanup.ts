import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const children = new Set<ChildProcess>();
const scratchDirs = new Set<string>();

/** Registers a child process to be killed if the benchmark exits, fails or is interrupted before it ends. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** SIGKILLs every tracked child still running. Synchronous, so it works in an `exit` handler. */
export function killTrackedChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
}

/** Creates a fresh temporary directory, removed by {@link removeScratchDir} or at exit. */
export function createScratchDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logtally-bench-${label}-`));
  scratchDirs.add(dir);
  return dir;
}

/** Removes a directory made by {@link createScratchDir}. */
export function removeScratchDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  scratchDirs.delete(dir);
}

/**
 * SIGKILLs every process whose parent is this one: a last resort at exit for
 * a child that failed before it could be tracked (an aggregator that never
 * logged its start, say).
 */
function killDirectChildren(): void {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const parentPid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parentPid === process.pid) process.kill(Number(entry), "SIGKILL");
    } catch {
      // The process ended meanwhile.
    }
  }
}

/**
 * Kills every tracked child and removes every scratch directory when the
 * process exits for any reason: normal end, an uncaught error, SIGINT or
 * SIGTERM (then exiting with 128 + the signal number).
 */
export function installCleanup(): void {
  const cleanUp = (): void => {
    killTrackedChildren();
    killDirectChildren();
    for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
    scratchDirs.clear();
  };
  process.on("exit", cleanUp);
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every child process\n`);
      process.exit(code);
    });
  }
}

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";

let clockTicksPerSecond: number | undefined;

/** The kernel's USER_HZ (`getconf CLK_TCK`), the unit of utime and stime in /proc/<pid>/stat. */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    const reported = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    clockTicksPerSecond = Number.isFinite(reported) && reported > 0 ? reported : 100;
  }
  return clockTicksPerSecond;
}

/**
 * CPU seconds (user + system) a process has used since it started, from
 * /proc/<pid>/stat. Threads are included (libuv's pool, V8's GC and compiler
 * threads, SQLite), also those that exited; children are not. Counted in
 * clock ticks (10 ms): coarse over a short window. Throws if the process is gone.
 */
export function cpuSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/**
 * Nanoseconds on a CPU of each live thread of a process, by thread id, from
 * /proc/<pid>/task/<tid>/schedstat: exact, unlike the clock ticks of
 * /proc/<pid>/stat, but blind to threads that have exited. Empty where the
 * kernel keeps no scheduler statistics.
 */
function threadCpuNanos(pid: number): Map<string, number> {
  const byThread = new Map<string, number>();
  for (const thread of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      byThread.set(thread, Number(fs.readFileSync(`/proc/${pid}/task/${thread}/schedstat`, "utf8").split(" ")[0]));
    } catch {
      // The thread exited meanwhile, or there is no schedstat: measured from /proc/<pid>/stat instead.
      return new Map();
    }
  }
  return byThread;
}

/** Where one process stood when a window started. */
interface ProcessStart {
  readonly cpuSeconds: number;
  readonly threadNanos: Map<string, number>;
}

/**
 * Measures the CPU time a set of processes spends over a window of wall time:
 * `start()`, then `stop()` returns the CPU seconds each used in between.
 *
 * A process's threads are measured to the nanosecond when none has exited
 * within the window (as with Node's and Go's long-lived threads); otherwise
 * the process is measured in clock ticks, which also count what exited
 * threads used.
 */
export class CpuWindow {
  private starts: ProcessStart[] = [];
  private startMs = 0;

  constructor(private readonly pids: readonly number[]) {}

  /** Records the starting point. */
  start(): void {
    this.starts = this.pids.map((pid) => ({ cpuSeconds: cpuSecondsOf(pid), threadNanos: threadCpuNanos(pid) }));
    this.startMs = performance.now();
  }

  /** CPU seconds per process since `start()`, their sum, and the wall seconds elapsed. */
  stop(): { cpuSecondsByPid: number[]; cpuSeconds: number; wallSeconds: number } {
    const cpuSecondsByPid = this.pids.map((pid, index) => CpuWindow.usedSince(pid, this.starts[index]!));
    return {
      cpuSecondsByPid,
      cpuSeconds: cpuSecondsByPid.reduce((sum, value) => sum + value, 0),
      wallSeconds: (performance.now() - this.startMs) / 1000,
    };
  }

  private static usedSince(pid: number, start: ProcessStart): number {
    const ticked = cpuSecondsOf(pid) - start.cpuSeconds;
    const now = threadCpuNanos(pid);
    const allThreadsLive = start.threadNanos.size > 0 && [...start.threadNanos.keys()].every((thread) => now.has(thread));
    if (!allThreadsLive) return ticked;
    let nanos = 0;
    // A thread started within the window used all its time in it.
    for (const [thread, used] of now) nanos += used - (start.threadNanos.get(thread) ?? 0);
    const exact = nanos / 1e9;
    // Each reading of the ticks is off by less than one tick: a larger gap is a
    // thread that started and exited within the window, which only the ticks saw.
    return ticked - exact > 2 / ticksPerSecond() ? ticked : exact;
  }
}

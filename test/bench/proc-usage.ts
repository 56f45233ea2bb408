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
 * threads, SQLite); children are not. Throws if the process is gone.
 */
export function cpuSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/**
 * Measures the CPU time a set of processes spends over a window of wall time:
 * `start()`, then `stop()` returns the CPU seconds each used in between.
 */
export class CpuWindow {
  private startCpu: number[] = [];
  private startMs = 0;

  constructor(private readonly pids: readonly number[]) {}

  /** Records the starting point. */
  start(): void {
    this.startCpu = this.pids.map(cpuSecondsOf);
    this.startMs = performance.now();
  }

  /** CPU seconds per process since `start()`, their sum, and the wall seconds elapsed. */
  stop(): { cpuSecondsByPid: number[]; cpuSeconds: number; wallSeconds: number } {
    const cpuSecondsByPid = this.pids.map((pid, index) => cpuSecondsOf(pid) - this.startCpu[index]!);
    return {
      cpuSecondsByPid,
      cpuSeconds: cpuSecondsByPid.reduce((sum, value) => sum + value, 0),
      wallSeconds: (performance.now() - this.startMs) / 1000,
    };
  }
}

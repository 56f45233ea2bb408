import * as fs from "node:fs";

/** A process's resident memory as the kernel reports it, in bytes. */
export interface ProcessMemory {
  /** Resident now (VmRSS). */
  readonly rssBytes: number;
  /** The most it was ever resident (VmHWM, the high-water mark). */
  readonly peakRssBytes: number;
}

/** Reads VmRSS and VmHWM from /proc/<pid>/status (Linux). */
export function processMemory(pid: number): ProcessMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kibibytes = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kibibytes("VmRSS"), peakRssBytes: kibibytes("VmHWM") };
}

import * as fs from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { runWorker } from "../worker-process";

/** What the counter is told when forked. */
export interface FullRecountInit {
  readonly file: string;
}

/** What it reports after one full count: CPU and wall time of the count alone (not the process's start-up). */
export type FullRecountMessage = {
  readonly type: "counted";
  readonly rows: number;
  readonly pairs: number;
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
};

const READ_BYTES = 1024 * 1024;

/**
 * One cycle of the exporter logtally replaces, written the straightforward
 * way: read the whole file, split it into lines, count each (host, job_name)
 * in a Map. (Reading it into one string is not an option: a 1 GB file is
 * longer than V8's largest string, so it is read in 1 MiB pieces.)
 */
function countPairs(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  const fd = fs.openSync(file, "r");
  const buffer = Buffer.alloc(READ_BYTES);
  const decoder = new StringDecoder("utf8");
  let carry = "";
  try {
    for (;;) {
      const read = fs.readSync(fd, buffer, 0, READ_BYTES, null);
      if (read === 0) break;
      const lines = (carry + decoder.write(buffer.subarray(0, read))).split("\n");
      carry = lines.pop()!;
      for (const line of lines) {
        const [host, jobName] = line.split(",");
        if (!host || !jobName) continue;
        const key = `${host}\u0000${jobName}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return counts;
}

runWorker<FullRecountInit, FullRecountMessage>((init, post) => {
  const cpuBefore = process.cpuUsage();
  const startMs = performance.now();
  const counts = countPairs(init.file);
  const cpu = process.cpuUsage(cpuBefore);
  let rows = 0;
  for (const count of counts.values()) rows += count;
  post({
    type: "counted",
    rows,
    pairs: counts.size,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: (performance.now() - startMs) / 1000,
  });
  process.disconnect?.();
});

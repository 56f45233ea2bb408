import * as fs from "node:fs";
import { seededRandom } from "@logtally/testing";

/** Every generated row is `host-NNNNN,job-NNNNN\n`: this many bytes. */
export const BYTES_PER_ROW = 21;

/** Bytes written per write(2) when generating a file. */
const CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * The (host, job_name) of pair `index` of `pairs`: a grid of about √pairs
 * hosts by √pairs jobs, so both labels vary. Plain names (no commas, quotes,
 * spaces or header), which every counter compared here parses the same way.
 */
export function pairLabels(index: number, pairs: number): { host: string; jobName: string } {
  const hosts = Math.ceil(Math.sqrt(pairs));
  return {
    host: `host-${String(index % hosts).padStart(5, "0")}`,
    jobName: `job-${String(Math.floor(index / hosts)).padStart(5, "0")}`,
  };
}

/**
 * An endless sequence of rows cycling through `pairs` distinct pairs in a
 * seeded shuffled order. Row `n` of the sequence is always the same, so a
 * file can be written in parts (by different processes) and still be the
 * sequence's first rows.
 */
export class RowCycle {
  /** Two copies of one cycle, so any run of up to `pairs` rows is one subarray. */
  private readonly doubled: Buffer;
  /** Rows handed out so far. */
  position = 0;

  constructor(
    readonly pairs: number,
    seed = 1,
  ) {
    if (!Number.isSafeInteger(pairs) || pairs < 1 || pairs > 99_999 ** 2) throw new RangeError(`pairs must be 1…${99_999 ** 2}, got ${pairs}`);
    const order = Array.from({ length: pairs }, (_, index) => index);
    const random = seededRandom(seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const cycle = Buffer.from(
      order
        .map((index) => {
          const { host, jobName } = pairLabels(index, pairs);
          return `${host},${jobName}\n`;
        })
        .join(""),
    );
    this.doubled = Buffer.concat([cycle, cycle]);
  }

  /** The next `rows` rows as one buffer (`rows * BYTES_PER_ROW` bytes). */
  take(rows: number): Buffer {
    const parts: Buffer[] = [];
    let left = rows;
    while (left > 0) {
      const start = this.position % this.pairs;
      const count = Math.min(left, this.pairs);
      parts.push(this.doubled.subarray(start * BYTES_PER_ROW, (start + count) * BYTES_PER_ROW));
      this.position += count;
      left -= count;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

/**
 * Writes the next `rows` rows of `cycle` to `file` (created, truncated, or
 * appended to with `append`) in large writes. Returns the bytes written.
 */
export function writeRows(file: string, cycle: RowCycle, rows: number, { append = false }: { append?: boolean } = {}): number {
  const fd = fs.openSync(file, append ? "a" : "w");
  try {
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / BYTES_PER_ROW / cycle.pairs)) * cycle.pairs;
    let left = rows;
    // A whole number of cycles from the same start is the same bytes: build that chunk once.
    let fullChunk: Buffer | undefined;
    while (left > 0) {
      const count = Math.min(left, rowsPerChunk);
      if (count === rowsPerChunk) {
        if (fullChunk === undefined) fullChunk = cycle.take(count);
        else cycle.position += count;
        writeAll(fd, fullChunk);
      } else {
        writeAll(fd, cycle.take(count));
      }
      left -= count;
    }
    return rows * BYTES_PER_ROW;
  } finally {
    fs.closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  let at = 0;
  while (at < bytes.length) at += fs.writeSync(fd, bytes, at);
}

/** Rows that fit in `bytes` bytes of generated rows (rounded down to whole rows). */
export function rowsForBytes(bytes: number): number {
  return Math.floor(bytes / BYTES_PER_ROW);
}

/** Counts the rows of a small file by exact line, for checking other counters: "host|job_name" → rows. */
export function countPairsOf(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (line === "") continue;
    const [host, jobName] = line.split(",");
    const key = `${host}|${jobName}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

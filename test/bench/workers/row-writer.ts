import * as fs from "node:fs";
import { RowCycle } from "../data-file";
import { runWorker } from "../worker-process";

/** What the writer is told when forked. */
export interface RowWriterInit {
  readonly file: string;
  readonly pairs: number;
  readonly seed: number;
  /** Rows of the cycle already in the file: the writer continues the sequence from there. */
  readonly startRow: number;
  /** Rows to append in all; the writer reports `done` after them. Omit for no end. */
  readonly totalRows?: number;
  /** Target rate; 0 appends as fast as it can. */
  readonly rowsPerSecond: number;
}

/** What the parent sends: begin appending (after `ready`). */
export interface RowWriterCommand {
  readonly type: "go";
}

/** What the writer reports. */
export type RowWriterMessage = { readonly type: "ready" } | { readonly type: "done"; readonly rows: number; readonly seconds: number };

/** Rows per write(2) at full speed (about 1 MB); at a set rate, whatever is due every tick. */
const FAST_WRITE_ROWS = 50_000;
const TICK_MS = 10;

runWorker<RowWriterInit, RowWriterMessage>(async (init, post) => {
  const cycle = new RowCycle(init.pairs, init.seed);
  cycle.position = init.startRow;
  const total = init.totalRows ?? Number.POSITIVE_INFINITY;
  // O_APPEND, and only whole lines per write: rows another process appends to the file never interleave with these.
  const fd = fs.openSync(init.file, "a");
  const append = (rows: number): void => {
    const bytes = cycle.take(rows);
    let at = 0;
    while (at < bytes.length) at += fs.writeSync(fd, bytes, at);
  };
  await new Promise<void>((resolve) => {
    process.once("message", () => resolve());
    post({ type: "ready" });
  });
  const startMs = performance.now();
  let written = 0;
  while (written < total) {
    if (init.rowsPerSecond === 0) {
      const rows = Math.min(FAST_WRITE_ROWS, total - written);
      append(rows);
      written += rows;
      // Yield now and then so a disconnect (the parent gone) is noticed.
      if (written % (FAST_WRITE_ROWS * 20) === 0) await new Promise((resolve) => setImmediate(resolve));
    } else {
      const due = Math.min(Math.floor(((performance.now() - startMs) / 1000) * init.rowsPerSecond), total) - written;
      if (due > 0) {
        append(due);
        written += due;
      }
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    }
  }
  fs.closeSync(fd);
  post({ type: "done", rows: written, seconds: (performance.now() - startMs) / 1000 });
});

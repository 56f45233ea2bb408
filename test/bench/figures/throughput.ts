import * as fs from "node:fs";
import * as path from "node:path";
import { catchUp } from "../catch-up";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { RowCycle, writeRows } from "../data-file";
import { atLeast, repeatRuns, type BenchContext, type Figure } from "../figure";
import { killAll, startBenchAggregator } from "../pipeline";
import { formatValue } from "../report";
import { WorkerProcess } from "../worker-process";
import type { RowWriterCommand, RowWriterInit, RowWriterMessage } from "../workers/row-writer";

/**
 * Rows per second through a fresh aggregator and one sidecar, from the
 * sidecar's spawn until everything in `file` (`rows` rows) is committed.
 * Shared with the mtail comparison, which times logtally on the same file.
 */
export async function logtallyRowsPerSecond(dir: string, file: string, rows: number): Promise<number> {
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const aggregator = await startBenchAggregator(runDir);
  try {
    const { sidecar, seconds } = await catchUp(aggregator, { file, sourceId: "bench" });
    await killAll([sidecar]);
    return rows / seconds;
  } finally {
    await killAll([aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/**
 * The same with a writer appending the second half of the rows as fast as it
 * can while the sidecar reads the first: rows per second from the sidecar's
 * spawn until the writer is done and everything it wrote is committed.
 */
async function withConcurrentWriter(dir: string, rows: number, pairs: number): Promise<number> {
  const file = path.join(dir, "appended.csv");
  const firstHalf = Math.floor(rows / 2);
  writeRows(file, new RowCycle(pairs), firstHalf);
  const init: RowWriterInit = { file, pairs, seed: 1, startRow: firstHalf, totalRows: rows - firstHalf, rowsPerSecond: 0 };
  const writer = new WorkerProcess<RowWriterMessage, RowWriterCommand>("row-writer", init);
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const aggregator = await startBenchAggregator(runDir);
  try {
    await writer.next("ready");
    let writerDone = false;
    void writer.next("done").then(
      () => (writerDone = true),
      () => undefined,
    );
    const { sidecar, seconds } = await catchUp(aggregator, {
      file,
      sourceId: "bench",
      beforeStart: () => writer.send({ type: "go" }),
      done: (offsetBytes, sizeBytes) => writerDone && offsetBytes === sizeBytes,
    });
    await killAll([sidecar]);
    return rows / seconds;
  } finally {
    await writer.kill();
    await killAll([aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.rmSync(file, { force: true });
  }
}

export const throughputFigure: Figure = {
  id: "throughput",
  title: "1. Throughput end to end: one sidecar, one aggregator (fresh state), from the sidecar's start until all committed",
  async measure(context: BenchContext) {
    const { throughputRows: rows, throughputPairs: pairs } = context.sizes;
    const dir = createScratchDir("throughput");
    try {
      const file = path.join(dir, "log.csv");
      writeRows(file, new RowCycle(pairs), rows);
      const runs = await repeatRuns(
        context,
        "throughput",
        async () => ({
          prewritten: await logtallyRowsPerSecond(dir, file, rows),
          concurrent: await withConcurrentWriter(dir, rows, pairs),
        }),
        (values) => `pre-written ${formatValue(values.prewritten, "rows/s")}, with writer ${formatValue(values.concurrent, "rows/s")}`,
      );
      const millions = (rows / 1e6).toLocaleString("en");
      const target = atLeast(1.5e6, "≥ 1.5 M rows/s");
      return {
        measurements: [
          { label: `pre-written file, ${millions} M rows, ${pairs.toLocaleString("en")} pairs`, unit: "rows/s", values: runs.prewritten, target },
          {
            label: `${(rows / 2e6).toLocaleString("en")} M rows written, ${(rows / 2e6).toLocaleString("en")} M appended meanwhile`,
            unit: "rows/s",
            values: runs.concurrent,
            target,
          },
        ],
        notes: [`${fs.statSync(file).size.toLocaleString("en")} bytes; the file is in the page cache (just written), as a tailed file usually is`],
      };
    } finally {
      removeScratchDir(dir);
    }
  },
};

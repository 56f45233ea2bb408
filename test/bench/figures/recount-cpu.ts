import * as path from "node:path";
import { catchUp } from "../catch-up";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { RowCycle, rowsForBytes, writeRows } from "../data-file";
import { repeatRuns, type BenchContext, type Figure } from "../figure";
import type { RunningProcess } from "@logtally/testing";
import { killAll, startBenchAggregator } from "../pipeline";
import { CpuWindow } from "../proc-usage";
import { formatValue } from "../report";
import { median, sleep } from "../stats";
import { WorkerProcess } from "../worker-process";
import type { FullRecountInit, FullRecountMessage } from "../workers/full-recount";
import type { RowWriterCommand, RowWriterInit, RowWriterMessage } from "../workers/row-writer";

/** The original exporter re-read the whole file every 10 s. */
const RECOUNTS_PER_HOUR = 360;
/** Let the writer and the pipeline settle into their steady state before the first window. */
const SETTLE_MS = 2_000;

/** CPU seconds of one full re-count of `file` by the straightforward counter, in its own process. */
async function fullRecount(file: string, expectedPairs: number): Promise<number> {
  const worker = new WorkerProcess<FullRecountMessage>("full-recount", { file } satisfies FullRecountInit);
  try {
    const counted = await worker.next("counted");
    if (counted.pairs !== expectedPairs) throw new Error(`the re-count found ${counted.pairs} pairs, expected ${expectedPairs}`);
    return counted.cpuSeconds;
  } finally {
    await worker.kill();
  }
}

export const recountCpuFigure: Figure = {
  id: "recount",
  title: "3. CPU per hour: re-reading the whole file every 10 s versus logtally, with a writer adding rows",
  async measure(context: BenchContext) {
    const { bigFileBytes, bigFilePairs: pairs, cpuWindowMs, cpuWriterRowsPerSecond } = context.sizes;
    const dir = createScratchDir("recount");
    const file = path.join(dir, "log.csv");
    const rows = rowsForBytes(bigFileBytes);
    writeRows(file, new RowCycle(pairs), rows);
    const aggregator = await startBenchAggregator(dir);
    const writerInit: RowWriterInit = { file, pairs, seed: 1, startRow: rows, rowsPerSecond: cpuWriterRowsPerSecond };
    const writer = new WorkerProcess<RowWriterMessage, RowWriterCommand>("row-writer", writerInit);
    let sidecar: RunningProcess | undefined;
    try {
      const caughtUp = await catchUp(aggregator, { file, sourceId: "bench" });
      sidecar = caughtUp.sidecar;
      const { pid: sidecarPid } = sidecar.child;
      await writer.next("ready");
      writer.send({ type: "go" });
      await sleep(SETTLE_MS);
      const runs = await repeatRuns(
        context,
        "recount",
        async () => {
          const window = new CpuWindow([sidecarPid!, aggregator.child.pid!]);
          window.start();
          await sleep(cpuWindowMs);
          const { cpuSeconds, wallSeconds } = window.stop();
          const logtally = (cpuSeconds / wallSeconds) * 3600;
          const cycle = await fullRecount(file, pairs);
          const recount = cycle * RECOUNTS_PER_HOUR;
          return { cycle, recount, logtally, ratio: recount / logtally };
        },
        (values) => `full re-count ${formatValue(values.recount, "CPU s/h")}, logtally ${formatValue(values.logtally, "CPU s/h")}`,
      );
      const sizeText = `${(bigFileBytes / 1e9).toLocaleString("en")} GB`;
      return {
        measurements: [
          { label: `one full re-count of the ${sizeText} file (CPU)`, unit: "s", values: runs.cycle },
          { label: `full re-count of a ${sizeText} file, ×${RECOUNTS_PER_HOUR} per hour`, unit: "CPU s/h", values: runs.recount },
          {
            label: `logtally, sidecar + aggregator, caught up, writer ${cpuWriterRowsPerSecond.toLocaleString("en")} rows/s`,
            unit: "CPU s/h",
            values: runs.logtally,
          },
          { label: "full re-count / logtally", unit: "ratio", values: runs.ratio },
        ],
        notes: [
          `re-count: one cycle's CPU (process.cpuUsage around the count, in its own process: read 1 MiB at a time, split lines, count pairs in a Map), ×${RECOUNTS_PER_HOUR}`,
          `logtally: both processes' CPU from /proc over ${cpuWindowMs / 1000} s windows, scaled to an hour; the writer appends every 10 ms and its CPU is not counted for either`,
          ...(median(runs.cycle) > 3600 / RECOUNTS_PER_HOUR
            ? [
                `one re-count takes more CPU than its ${3600 / RECOUNTS_PER_HOUR} s period: on one core the exporter could not keep up; ×${RECOUNTS_PER_HOUR} is what keeping up would cost`,
              ]
            : []),
          `catching up on the ${sizeText} file (${rows.toLocaleString("en")} rows) first took ${caughtUp.seconds.toFixed(1)} s (${formatValue(rows / caughtUp.seconds, "rows/s")})`,
        ],
      };
    } finally {
      await writer.kill();
      await killAll([sidecar, aggregator]);
      removeScratchDir(dir);
    }
  },
};

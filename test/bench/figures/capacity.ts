import * as path from "node:path";
import type { AggregatorProcess } from "../../e2e/harness/processes";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { repeatRuns, type BenchContext, type Figure, type Measurement } from "../figure";
import { killAll, startBenchAggregator } from "../pipeline";
import { CpuWindow } from "../proc-usage";
import { formatValue } from "../report";
import { WorkerProcess } from "../worker-process";
import type { IngestSenderInit, IngestSenderMessage } from "../workers/ingest-sender";

/** Sending before the measured window: streams open, SQLite's pages and V8's code warm. */
const WARMUP_MS = 1_000;

/**
 * `senders` concurrent senders (in one process of their own) ship batches to
 * the aggregator, each awaiting its acknowledgement before the next. Returns
 * the batches and rows applied per second over the window, and the cores the
 * aggregator used meanwhile.
 */
async function applyRate(
  context: BenchContext,
  aggregator: AggregatorProcess,
  senders: number,
  sourcePrefix: string,
): Promise<{ batches: number; rows: number; cores: number; senderCores: number }> {
  const { capacityRowsPerBatch: rowsPerBatch, capacityPairsPerBatch: pairsPerBatch, capacityWindowMs: windowMs } = context.sizes;
  const init: IngestSenderInit = { address: aggregator.grpcAddress, senders, sourcePrefix, rowsPerBatch, pairsPerBatch, warmupMs: WARMUP_MS, windowMs };
  const worker = new WorkerProcess<IngestSenderMessage>("ingest-sender", init);
  try {
    await worker.next("window-start");
    const cpu = new CpuWindow([aggregator.child.pid!, worker.child.pid!]);
    cpu.start();
    const end = await worker.next("window-end");
    const { cpuSecondsByPid, wallSeconds } = cpu.stop();
    return {
      batches: end.batches / end.seconds,
      rows: end.rows / end.seconds,
      cores: cpuSecondsByPid[0]! / wallSeconds,
      senderCores: cpuSecondsByPid[1]! / wallSeconds,
    };
  } finally {
    await worker.kill();
  }
}

export const capacityFigure: Figure = {
  id: "capacity",
  title: "8. Aggregator capacity: batches applied durably per second by concurrent senders over real gRPC",
  async measure(context: BenchContext) {
    const { capacitySenders, capacityRowsPerBatch: rowsPerBatch, capacityPairsPerBatch: pairsPerBatch, capacityWindowMs } = context.sizes;
    const dir = createScratchDir("capacity");
    try {
      const runs = await repeatRuns(
        context,
        "capacity",
        async (run) => {
          const aggregator = await startBenchAggregator(path.join(dir, `run-${run}`));
          try {
            const values: Record<string, number> = {};
            for (const senders of capacitySenders) {
              const rate = await applyRate(context, aggregator, senders, `run${run}-senders${senders}`);
              values[`batches@${senders}`] = rate.batches;
              values[`rows@${senders}`] = rate.rows;
              values[`cores@${senders}`] = rate.cores;
              values[`senderCores@${senders}`] = rate.senderCores;
            }
            return values;
          } finally {
            await killAll([aggregator]);
          }
        },
        (values) =>
          capacitySenders
            .map(
              (senders) =>
                `${senders}: ${formatValue(values[`batches@${senders}`]!, "batches/s")} ` +
                `(aggregator ${formatValue(values[`cores@${senders}`]!, "cores")}, senders ${formatValue(values[`senderCores@${senders}`]!, "cores")})`,
            )
            .join(", "),
      );
      const measurements: Measurement[] = [];
      for (const senders of capacitySenders) {
        const name = `${senders} sender${senders === 1 ? "" : "s"}`;
        measurements.push({ label: `${name}, batches`, unit: "batches/s", values: runs[`batches@${senders}`]! });
        measurements.push({ label: `${name}, rows`, unit: "rows/s", values: runs[`rows@${senders}`]! });
        measurements.push({ label: `${name}, aggregator CPU`, unit: "cores", values: runs[`cores@${senders}`]! });
        measurements.push({ label: `${name}, sender process CPU`, unit: "cores", values: runs[`senderCores@${senders}`]! });
      }
      return {
        measurements,
        notes: [
          `batches of ${rowsPerBatch.toLocaleString("en")} rows over ${pairsPerBatch} pairs, each sender its own source, file and stream, one batch in flight; ` +
            `${capacityWindowMs / 1000} s measured after ${WARMUP_MS / 1000} s of warm-up; senders run in one process apart from the aggregator`,
        ],
      };
    } finally {
      removeScratchDir(dir);
    }
  },
};

import * as path from "node:path";
import type { AggregatorProcess } from "../../support/processes";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { atLeast, repeatRuns, type BenchContext, type Build, type Figure, type Measurement } from "../figure";
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

/** The aggregator's capacity must serve a thousand pods, each shipping a few batches a second. */
const TARGET_SENDERS = 64;

export const capacityFigure: Figure = {
  id: "capacity",
  title: "8. Aggregator capacity: batches applied durably per second by concurrent senders over real gRPC",
  async measure(context: BenchContext) {
    const { capacitySenders, capacityRowsPerBatch: rowsPerBatch, capacityPairsPerBatch: pairsPerBatch, capacityWindowMs } = context.sizes;
    const dir = createScratchDir("capacity");
    const [current] = context.builds;
    const key = (build: Build, name: string, senders: number): string => `${build.label}:${name}@${senders}`;
    try {
      const runs = await repeatRuns(
        context,
        "capacity",
        async (run) => {
          const values: Record<string, number> = {};
          // Builds in turns within each run, so that the machine's noise falls on both alike.
          for (const [index, build] of context.builds.entries()) {
            const aggregator = await startBenchAggregator(path.join(dir, `run-${run}-${index}`), build.programs);
            try {
              for (const senders of capacitySenders) {
                const rate = await applyRate(context, aggregator, senders, `run${run}-senders${senders}`);
                values[key(build, "batches", senders)] = rate.batches;
                values[key(build, "rows", senders)] = rate.rows;
                values[key(build, "cores", senders)] = rate.cores;
                values[key(build, "perBatch", senders)] = (rate.cores / rate.batches) * 1e6;
                values[key(build, "senderCores", senders)] = rate.senderCores;
              }
            } finally {
              await killAll([aggregator]);
            }
          }
          return values;
        },
        (values) =>
          context.builds
            .flatMap((build) =>
              capacitySenders.map(
                (senders) =>
                  `${build.label} ${senders}: ${formatValue(values[key(build, "batches", senders)]!, "batches/s")} ` +
                  `(aggregator ${formatValue(values[key(build, "cores", senders)]!, "cores")}, senders ${formatValue(values[key(build, "senderCores", senders)]!, "cores")})`,
              ),
            )
            .join(", "),
      );
      const measurements: Measurement[] = [];
      for (const build of context.builds) {
        for (const senders of capacitySenders) {
          const name = `${build.label}, ${senders} sender${senders === 1 ? "" : "s"}`;
          const target = build === current && senders === TARGET_SENDERS ? atLeast(5_000, "≥ 5,000 batches/s") : undefined;
          measurements.push({ label: `${name}, batches`, unit: "batches/s", values: runs[key(build, "batches", senders)]!, target });
          measurements.push({ label: `${name}, rows`, unit: "rows/s", values: runs[key(build, "rows", senders)]! });
          measurements.push({ label: `${name}, aggregator CPU`, unit: "cores", values: runs[key(build, "cores", senders)]! });
          measurements.push({ label: `${name}, aggregator CPU per batch`, unit: "µs", values: runs[key(build, "perBatch", senders)]! });
          measurements.push({ label: `${name}, sender process CPU`, unit: "cores", values: runs[key(build, "senderCores", senders)]! });
        }
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

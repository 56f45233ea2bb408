import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { AggregatorProcess } from "../../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { catchUp } from "../catch-up";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { RowCycle, writeRows } from "../data-file";
import { below, repeatRuns, type BenchContext, type Figure } from "../figure";
import { killAll, startBenchAggregator } from "../pipeline";
import { formatValue } from "../report";
import { percentile, sleep } from "../stats";
import { WorkerProcess } from "../worker-process";
import type { RowWriterCommand, RowWriterInit, RowWriterMessage } from "../workers/row-writer";

/** The probe row: its own pair, whose count tells which probe rows are visible. */
const PROBE_HOST = "freshness-probe";
const PROBE_JOB = "bench";
const PROBE_SERIES = new RegExp(`^log_host_job_count\\{host="${PROBE_HOST}",job_name="${PROBE_JOB}"\\} (\\S+)$`, "m");
/** Between scrapes of one sample: the resolution of each sample, and a bound on the load the polling adds. */
const POLL_MS = 5;
/** A sample not visible after this long fails the run (something is broken, not slow). */
const SAMPLE_TIMEOUT_MS = 30_000;
/** Rows in the file before the sidecar starts (it identifies a file by its first line). */
const INITIAL_ROWS = 1_000;
/** Let a started background writer reach its steady state before sampling. */
const SETTLE_MS = 2_000;

/** The probe pair's count on /metrics, 0 while it is absent. */
async function probeCount(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return Number(PROBE_SERIES.exec(text)?.[1] ?? 0);
}

/**
 * Appends one probe row at a time and polls /metrics until the probe's count
 * shows it: each sample is the time from the append (a single write(2) of the
 * whole line) until a scrape's body, fully received, shows it. A random pause
 * of up to 10 ms between samples keeps them out of step with the sidecar.
 */
async function sampleFreshness(file: string, aggregator: AggregatorProcess, samples: number, watch: readonly ChildProcess[]): Promise<number[]> {
  const fd = fs.openSync(file, "a");
  const row = Buffer.from(`${PROBE_HOST},${PROBE_JOB}\n`);
  const latenciesMs: number[] = [];
  try {
    let expected = await probeCount(aggregator.metricsUrl);
    for (let sample = 0; sample < samples; sample++) {
      expected++;
      const startMs = performance.now();
      fs.writeSync(fd, row);
      for (;;) {
        if ((await probeCount(aggregator.metricsUrl)) >= expected) break;
        const waitedMs = performance.now() - startMs;
        if (waitedMs > SAMPLE_TIMEOUT_MS || watch.some((child) => child.exitCode !== null || child.signalCode !== null)) {
          throw new Error(`probe row ${expected} not visible on /metrics after ${Math.round(waitedMs)} ms`);
        }
        await sleep(POLL_MS);
      }
      latenciesMs.push(performance.now() - startMs);
      await sleep(Math.random() * 10);
    }
  } finally {
    fs.closeSync(fd);
  }
  return latenciesMs;
}

/** One run: a fresh pipeline, samples while idle, then samples under the background writer. */
async function measureRun(context: BenchContext, dir: string): Promise<{ idleP50: number; idleP99: number; loadP50: number; loadP99: number }> {
  const { freshnessSamples: samples, freshnessLoadRowsPerSecond: rowsPerSecond, freshnessLoadPairs: pairs } = context.sizes;
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const file = path.join(runDir, "log.csv");
  writeRows(file, new RowCycle(pairs), INITIAL_ROWS);
  const writerInit: RowWriterInit = { file, pairs, seed: 1, startRow: INITIAL_ROWS, rowsPerSecond };
  const writer = new WorkerProcess<RowWriterMessage, RowWriterCommand>("row-writer", writerInit);
  const aggregator = await startBenchAggregator(runDir);
  let sidecar: RunningProcess | undefined;
  try {
    sidecar = (await catchUp(aggregator, { file, sourceId: "bench" })).sidecar;
    const idle = await sampleFreshness(file, aggregator, samples, [sidecar.child, aggregator.child]);
    await writer.next("ready");
    writer.send({ type: "go" });
    await sleep(SETTLE_MS);
    const loaded = await sampleFreshness(file, aggregator, samples, [sidecar.child, aggregator.child, writer.child]);
    return { idleP50: percentile(idle, 50), idleP99: percentile(idle, 99), loadP50: percentile(loaded, 50), loadP99: percentile(loaded, 99) };
  } finally {
    await writer.kill();
    await killAll([sidecar, aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

export const freshnessFigure: Figure = {
  id: "freshness",
  title: "4. Freshness: from a row's append until /metrics shows it",
  async measure(context: BenchContext) {
    const { freshnessSamples: samples, freshnessLoadRowsPerSecond: rowsPerSecond, freshnessLoadPairs: pairs } = context.sizes;
    const dir = createScratchDir("freshness");
    try {
      const runs = await repeatRuns(
        context,
        "freshness",
        () => measureRun(context, dir),
        (values) =>
          `idle p50 ${formatValue(values.idleP50, "ms")} p99 ${formatValue(values.idleP99, "ms")}, ` +
          `loaded p50 ${formatValue(values.loadP50, "ms")} p99 ${formatValue(values.loadP99, "ms")}`,
      );
      const target = below(500, "< 500 ms");
      const load = `writer ${rowsPerSecond.toLocaleString("en")} rows/s on the same file`;
      return {
        measurements: [
          { label: `idle, p50 of ${samples.toLocaleString("en")} samples`, unit: "ms", values: runs.idleP50 },
          { label: `idle, p99 of ${samples.toLocaleString("en")} samples`, unit: "ms", values: runs.idleP99, target },
          { label: `${load}, p50`, unit: "ms", values: runs.loadP50 },
          { label: `${load}, p99`, unit: "ms", values: runs.loadP99, target },
        ],
        notes: [
          `each sample appends one row of a probe pair and scrapes /metrics every ${POLL_MS} ms until its count shows the row; the background writer cycles through ${pairs.toLocaleString("en")} pairs`,
        ],
      };
    } finally {
      removeScratchDir(dir);
    }
  },
};

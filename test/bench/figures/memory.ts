import * as fs from "node:fs";
import * as path from "node:path";
import { scrape } from "../../support/metrics";
import { processMemory } from "../../support/process-memory";
import type { RunningProcess } from "@logtally/testing";
import { catchUp } from "../catch-up";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { RowCycle, rowsForBytes, writeRows } from "../data-file";
import { below, repeatRuns, type BenchContext, type Figure } from "../figure";
import { killAll, startBenchAggregator } from "../pipeline";
import { formatValue } from "../report";

/** Rows per pair in the file that gives the aggregator its series. */
const ROWS_PER_PAIR = 10;
/** Scrapes after ingesting, as Prometheus would make: rendering /metrics is part of holding the series. */
const SCRAPES = 5;

/** Peak RSS of a sidecar shipping `file` from the start at full speed, read once everything is committed. */
async function sidecarPeakRss(dir: string, file: string): Promise<number> {
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const aggregator = await startBenchAggregator(runDir);
  let sidecar: RunningProcess | undefined;
  try {
    sidecar = (await catchUp(aggregator, { file, sourceId: "bench" })).sidecar;
    return processMemory(sidecar.child.pid!).peakRssBytes;
  } finally {
    await killAll([sidecar, aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/** Peak and current RSS of a fresh aggregator after ingesting `series` pairs and serving a few scrapes. */
async function aggregatorRss(dir: string, series: number): Promise<{ peakIngested: number; peak: number; current: number }> {
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const file = path.join(runDir, "series.csv");
  writeRows(file, new RowCycle(series), series * ROWS_PER_PAIR);
  const aggregator = await startBenchAggregator(runDir);
  let sidecar: RunningProcess | undefined;
  try {
    sidecar = (await catchUp(aggregator, { file, sourceId: "bench" })).sidecar;
    const peakIngested = processMemory(aggregator.child.pid!).peakRssBytes;
    for (let index = 0; index < SCRAPES; index++) {
      const held = (await scrape(aggregator.metricsUrl)).filter((sample) => sample.name === "log_host_job_count").length;
      if (held !== series) throw new Error(`/metrics held ${held} series, expected ${series}`);
    }
    const { peakRssBytes, rssBytes } = processMemory(aggregator.child.pid!);
    return { peakIngested, peak: peakRssBytes, current: rssBytes };
  } finally {
    await killAll([sidecar, aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

export const memoryFigure: Figure = {
  id: "memory",
  title: "6. Memory: peak RSS (VmHWM) of a sidecar reading a big file, and of an aggregator holding many series",
  async measure(context: BenchContext) {
    const { bigFileBytes, bigFilePairs, memorySeries } = context.sizes;
    const dir = createScratchDir("memory");
    try {
      const file = path.join(dir, "log.csv");
      writeRows(file, new RowCycle(bigFilePairs), rowsForBytes(bigFileBytes));
      const runs = await repeatRuns(
        context,
        "memory",
        async () => {
          const sidecarPeak = await sidecarPeakRss(dir, file);
          const aggregator = await aggregatorRss(dir, memorySeries);
          return {
            sidecarPeak,
            aggregatorPeakIngested: aggregator.peakIngested,
            aggregatorPeak: aggregator.peak,
            aggregatorCurrent: aggregator.current,
          };
        },
        (values) =>
          `sidecar peak ${formatValue(values.sidecarPeak, "MB")}, aggregator peak ${formatValue(values.aggregatorPeak, "MB")} (now ${formatValue(values.aggregatorCurrent, "MB")})`,
      );
      const seriesText = `${memorySeries.toLocaleString("en")} series`;
      return {
        measurements: [
          {
            label: `sidecar peak, reading ${(bigFileBytes / 1e9).toLocaleString("en")} GB from the start (${bigFilePairs.toLocaleString("en")} pairs)`,
            unit: "MB",
            values: runs.sidecarPeak,
            target: below(100e6, "< 100 MB"),
          },
          {
            label: `aggregator peak, ${seriesText} ingested and scraped ${SCRAPES}×`,
            unit: "MB",
            values: runs.aggregatorPeak,
            // The target is for 100,000 series; a --quick run holds fewer.
            target: memorySeries === 100_000 ? below(400e6, "< 400 MB") : undefined,
          },
          { label: `  of which ingesting alone (peak before the first scrape)`, unit: "MB", values: runs.aggregatorPeakIngested },
          { label: `aggregator resident after the scrapes (VmRSS)`, unit: "MB", values: runs.aggregatorCurrent },
        ],
        notes: [
          "MB = 10^6 bytes, from /proc/<pid>/status; each run starts fresh processes",
          `the aggregator's target applies to its peak with scrapes: a container's memory limit must hold what rendering /metrics allocates`,
        ],
      };
    } finally {
      removeScratchDir(dir);
    }
  },
};

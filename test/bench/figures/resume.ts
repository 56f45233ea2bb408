import * as fs from "node:fs";
import * as path from "node:path";
import type { RunningProcess } from "@logtally/testing";
import { catchUp } from "../catch-up";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { RowCycle, rowsForBytes, writeRows } from "../data-file";
import { below, repeatRuns, type BenchContext, type Figure } from "../figure";
import { CommitProbe, killAll, startBenchAggregator, startBenchSidecar } from "../pipeline";
import { formatValue } from "../report";

/** Polling the committed offset this often bounds the measurement's resolution. */
const POLL_MS = 5;

/**
 * One run: a sidecar commits the first part of a file and is stopped with
 * SIGTERM; the rest is appended while no sidecar runs; a new sidecar starts.
 * Returns the seconds from its spawn until its first batch is committed (the
 * committed offset moves past the old one), and until all is committed.
 */
async function resumeOnce(
  dir: string,
  committedBytes: number,
  appendedBytes: number,
  pairs: number,
): Promise<{ firstBatch: number; startUp: number; allCommitted: number }> {
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const file = path.join(runDir, "log.csv");
  const cycle = new RowCycle(pairs);
  writeRows(file, cycle, rowsForBytes(committedBytes));
  const aggregator = await startBenchAggregator(runDir);
  let second: RunningProcess | undefined;
  const probe = new CommitProbe(aggregator);
  try {
    const first = (await catchUp(aggregator, { file, sourceId: "bench", name: "first" })).sidecar;
    await first.stop("SIGTERM");
    const oldOffset = await probe.committedOffset("bench");
    writeRows(file, cycle, rowsForBytes(appendedBytes), { append: true });
    const size = fs.statSync(file).size;
    const startMs = performance.now();
    const spawnedAtUnixMs = Date.now();
    second = startBenchSidecar("second", { file, aggregator, sourceId: "bench" });
    const firstBatchMs = await probe.waitForOffset("bench", (offset) => offset > oldOffset, { intervalMs: POLL_MS, watch: [second] });
    const allMs = await probe.waitForOffset("bench", (offset) => offset === size, { intervalMs: POLL_MS, watch: [second] });
    // The sidecar's log times are wall-clock milliseconds: good enough to split off Node's start-up.
    const started = await second.waitForLog("sidecar started");
    return {
      firstBatch: (firstBatchMs - startMs) / 1000,
      startUp: (Date.parse(String(started.time)) - spawnedAtUnixMs) / 1000,
      allCommitted: (allMs - startMs) / 1000,
    };
  } finally {
    probe.close();
    await killAll([second, aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

export const resumeFigure: Figure = {
  id: "resume",
  title: "7. Resume: a sidecar restarted deep into a big file",
  async measure(context: BenchContext) {
    const { resumeCommittedBytes, resumeAppendedBytes, bigFilePairs } = context.sizes;
    const dir = createScratchDir("resume");
    try {
      const runs = await repeatRuns(
        context,
        "resume",
        () => resumeOnce(dir, resumeCommittedBytes, resumeAppendedBytes, bigFilePairs),
        (values) =>
          `first batch ${formatValue(values.firstBatch, "s")} (start-up ${formatValue(values.startUp, "s")}), all ${formatValue(values.allCommitted, "s")}`,
      );
      const mb = (bytes: number): string => `${(bytes / 1e6).toLocaleString("en")} MB`;
      return {
        measurements: [
          {
            label: `restart at ${mb(resumeCommittedBytes)}: spawn → first new batch committed`,
            unit: "s",
            values: runs.firstBatch,
            target: below(1, "< 1 s"),
          },
          { label: "  of which start-up (spawn → 'sidecar started' log)", unit: "s", values: runs.startUp },
          { label: `spawn → all ${mb(resumeAppendedBytes)} appended committed`, unit: "s", values: runs.allCommitted },
        ],
        notes: [
          `the first sidecar commits ${mb(resumeCommittedBytes)} and is stopped with SIGTERM; ${mb(resumeAppendedBytes)} is appended; a new sidecar starts (committed offsets polled every ${POLL_MS} ms)`,
        ],
      };
    } finally {
      removeScratchDir(dir);
    }
  },
};

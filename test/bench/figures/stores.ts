import * as fs from "node:fs";
import * as path from "node:path";
import type { RunningProcess } from "@logtally/testing";
import { IngestStream } from "../../support/ingest-client";
import type { AggregatorProcess } from "../../support/processes";
import { BenchPostgres, SQLITE, type BenchStore } from "../bench-postgres";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { RowCycle, writeRows } from "../data-file";
import { atLeast, below, repeatRuns, type BenchContext, type Figure } from "../figure";
import { runMtailOneShot, writeMtailProgram } from "../mtail";
import { CommitProbe, killAll, startBenchAggregator, startBenchSidecar } from "../pipeline";
import { formatValue } from "../report";
import { percentile } from "../stats";

/** Distinct pairs of the shipped files. */
const PAIRS = 10_000;
/** Pairs in each timed batch: a pod rarely has many. */
const PAIRS_PER_BATCH = 10;

/**
 * Rows per second end to end: two sidecars, one per file, ship to
 * `replicas` aggregators on `store` (sidecar i to replica i mod replicas),
 * from their spawn until both files are committed.
 */
async function rowsPerSecond(dir: string, files: readonly string[], rows: number, store: BenchStore, replicas: number): Promise<number> {
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const aggregators: AggregatorProcess[] = [];
  const sidecars: RunningProcess[] = [];
  try {
    for (let replica = 0; replica < replicas; replica++)
      aggregators.push(await startBenchAggregator(path.join(runDir, `replica-${replica}`), undefined, store));
    const startMs = performance.now();
    files.forEach((file, index) =>
      sidecars.push(startBenchSidecar(`sidecar-${index}`, { file, aggregator: aggregators[index % replicas]!, sourceId: `bench-${index}` })),
    );
    const ends = await Promise.all(
      files.map(async (file, index) => {
        const probe = new CommitProbe(aggregators[index % replicas]!);
        try {
          const size = fs.statSync(file).size;
          return await probe.waitForOffset(`bench-${index}`, (offset) => offset === size, { watch: [sidecars[index]!] });
        } finally {
          probe.close();
        }
      }),
    );
    return rows / ((Math.max(...ends) - startMs) / 1000);
  } finally {
    await killAll([...sidecars, ...aggregators]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/** Ships `samples` batches of ten pairs one after another on one stream; the time from send to acknowledgement of each, in ms. */
async function commitLatencies(dir: string, store: BenchStore, samples: number): Promise<{ p50: number; p99: number }> {
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const aggregator = await startBenchAggregator(runDir, undefined, store);
  const stream = await IngestStream.open(aggregator.grpcAddress, { sourceId: "latency", timeoutMs: 600_000 });
  try {
    const times: number[] = [];
    for (let sample = 0; sample < samples; sample++) {
      const deltas = Array.from({ length: PAIRS_PER_BATCH }, (_, pair) => ({ host: `host-${pair}`, jobName: `job-${sample % 100}`, count: 1 }));
      const startMs = performance.now();
      const ack = await stream.ship({
        startOffset: sample * 1000,
        endOffset: (sample + 1) * 1000,
        deltas,
        rows: PAIRS_PER_BATCH,
        rejected: [],
        anchor: "",
        sequence: sample + 1,
        fileSize: 0,
        fileBirthUnixMillis: 0,
        filePath: "",
      });
      times.push(performance.now() - startMs);
      if (ack.outcome !== "APPLIED") throw new Error(`batch ${sample} was ${ack.outcome}`);
    }
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  } finally {
    stream.close();
    await killAll([aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

export const storesFigure: Figure = {
  id: "stores",
  title: "10. PostgreSQL store beside the embedded SQLite store: throughput end to end, commit latency",
  async measure(context: BenchContext) {
    const { storeRows: rows, storeCommitSamples: samples } = context.sizes;
    const dir = createScratchDir("stores");
    const postgres = await BenchPostgres.start(dir);
    try {
      const files = [0, 1].map((index) => path.join(dir, `log-${index}.csv`));
      for (const file of files) writeRows(file, new RowCycle(PAIRS), rows / 2);
      const progs = writeMtailProgram(dir);
      const runs = await repeatRuns(
        context,
        "stores",
        async () => {
          // One mtail per file, at once, as the two sidecars run at once; and one alone on one file.
          const mtail = await Promise.all(files.map((file) => runMtailOneShot(progs, file)));
          const mtailAlone = await runMtailOneShot(progs, files[0]!);
          const sqliteLatency = await commitLatencies(dir, SQLITE, samples);
          const postgresLatency = await commitLatencies(dir, await postgres.freshDatabase(), samples);
          return {
            mtail: rows / Math.max(...mtail.map((run) => run.seconds)),
            mtailAlone: rows / 2 / mtailAlone.seconds,
            postgresAlone: await rowsPerSecond(dir, [files[0]!], rows / 2, await postgres.freshDatabase(), 1),
            sqlite: await rowsPerSecond(dir, files, rows, SQLITE, 1),
            postgres1: await rowsPerSecond(dir, files, rows, await postgres.freshDatabase(), 1),
            postgres2: await rowsPerSecond(dir, files, rows, await postgres.freshDatabase(), 2),
            sqliteP50: sqliteLatency.p50,
            sqliteP99: sqliteLatency.p99,
            postgresP50: postgresLatency.p50,
            postgresP99: postgresLatency.p99,
          };
        },
        (values) =>
          `SQLite ${formatValue(values.sqlite, "rows/s")}, PostgreSQL 1 replica ${formatValue(values.postgres1, "rows/s")}, ` +
          `2 replicas ${formatValue(values.postgres2, "rows/s")}, mtail ${formatValue(values.mtail, "rows/s")}; ` +
          `commit p99 SQLite ${formatValue(values.sqliteP99, "ms")}, PostgreSQL ${formatValue(values.postgresP99, "ms")}`,
      );
      const ratio = (a: readonly number[], b: readonly number[]) => a.map((value, run) => value / b[run]!);
      return {
        measurements: [
          { label: "SQLite, 1 aggregator, 2 sidecars", unit: "rows/s", values: runs.sqlite },
          { label: "PostgreSQL, 1 replica, 2 sidecars", unit: "rows/s", values: runs.postgres1 },
          { label: "PostgreSQL, 2 replicas, a sidecar each", unit: "rows/s", values: runs.postgres2 },
          { label: "PostgreSQL 1 replica / SQLite", unit: "ratio", values: ratio(runs.postgres1, runs.sqlite), target: atLeast(0.5, "≥ 0.5") },
          { label: "PostgreSQL 2 replicas / SQLite", unit: "ratio", values: ratio(runs.postgres2, runs.sqlite), target: atLeast(0.5, "≥ 0.5") },
          {
            label: "PostgreSQL 1 replica / mtail, one file each (as the mtail figure)",
            unit: "ratio",
            values: ratio(runs.postgresAlone, runs.mtailAlone),
            target: atLeast(5, "≥ 5×"),
          },
          { label: "PostgreSQL 1 replica / mtail, two files each, two mtails at once", unit: "ratio", values: ratio(runs.postgres1, runs.mtail) },
          { label: `commit latency SQLite, batches of ${PAIRS_PER_BATCH} pairs, p50`, unit: "ms", values: runs.sqliteP50 },
          { label: `commit latency SQLite, p99 of ${samples}`, unit: "ms", values: runs.sqliteP99 },
          { label: `commit latency PostgreSQL, batches of ${PAIRS_PER_BATCH} pairs, p50`, unit: "ms", values: runs.postgresP50 },
          { label: `commit latency PostgreSQL, p99 of ${samples}`, unit: "ms", values: runs.postgresP99, target: below(100, "< 100 ms") },
        ],
        notes: [
          `${(rows / 1e6).toLocaleString("en")} M rows in two pre-written files of ${PAIRS.toLocaleString("en")} pairs; each run starts on fresh state`,
          "PostgreSQL on this machine, with fsync and synchronous_commit on (as durable as SQLite's synchronous=FULL); commit latency is send to acknowledgement of one batch on one stream",
          "mtail: one mtail --one_shot per file, both at once, from their spawn until both exit; and one alone on one file, beside one sidecar on it",
        ],
      };
    } finally {
      await postgres.stop();
      removeScratchDir(dir);
    }
  },
};

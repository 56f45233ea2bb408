import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { COUNT_METRIC_NAME, StateDatabase, generationId, type SqliteDatabase } from "@logtally/aggregator";
import { type BetterSqlite3Engine, loadBetterSqlite3 } from "../better-sqlite3-engine";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { repeatRuns, type BenchContext, type Figure, type Measurement } from "../figure";
import { formatValue } from "../report";
import { median, percentile } from "../stats";

/** The rows a group writes, as the aggregator's view computes them (aggregator/src/store/count-view.ts). */
type StateRows = Parameters<StateDatabase["write"]>[0];

/** Count rows of an everyday group: a batch of ten pairs, as the stores figure ships. */
const PAIRS_PER_GROUP = 10;
/** Count rows of each group of the bulk writes: as many as writeInSlices() writes between two turns. */
const BULK_ROWS_PER_GROUP = 2_000;
/** Sources of the resumed state, each with a few generations (rotated files). */
const RESUME_SOURCES = 100;
const GENERATIONS_PER_SOURCE = 3;
/** open() + load() are timed this many times per engine and run; the median is the run's value. */
const RESUME_REPEATS = 5;

/** An engine StateDatabase runs on: its name in the table and how it opens a database file. */
interface Engine {
  readonly label: string;
  open(databasePath: string): SqliteDatabase;
}

/** What one engine measured in one run. */
interface EngineRun {
  readonly commitP50: number;
  readonly commitP99: number;
  readonly bulkRowsPerSecond: number;
  readonly resumeMs: number;
}

/** The i-th distinct series: 1,000 hosts times as many jobs as needed. */
function series(index: number): { host: string; jobName: string } {
  return { host: `node-${String(index % 1_000).padStart(4, "0")}.cluster.internal`, jobName: `nightly-export-${Math.floor(index / 1_000)}` };
}

/** A pair's count as the state stores it: a series of log_host_job_count. */
type PairCount = { readonly host: string; readonly jobName: string; readonly count: number };

function pairSeries(counts: readonly PairCount[]): StateRows["series"] {
  return counts.map(({ host, jobName, count }) => ({ metric: COUNT_METRIC_NAME, labels: [host, jobName], count }));
}

/** A group's rows: `counts`, and the generation and source rows every applied batch writes beside them. */
function groupRows(counts: readonly PairCount[], sourceIndex: number, committedOffset: number): StateRows {
  const sourceId = `pod-${sourceIndex}`;
  const fileId = `${sourceId}-file`;
  const epoch = 1;
  const generation = generationId(fileId, epoch);
  const nowMs = Date.now();
  return {
    metrics: [],
    series: pairSeries(counts),
    generations: [
      {
        sourceId,
        generation,
        fileId,
        epoch,
        committedOffset,
        anchor: "0123456789abcdef",
        updatedMs: nowMs,
        fileBirthMs: nowMs - 60_000,
        filePath: `/var/log/app/${sourceId}.csv`,
      },
    ],
    sources: [{ sourceId, createdMs: nowMs - 60_000, latestGeneration: generation, lastSeenMs: nowMs, lastSidecarId: `${sourceId}-sidecar` }],
    rejected: [],
  };
}

/** Opens a fresh state in `dir` with `engine`, checking that it runs as durable as logtally asks (WAL, synchronous=FULL). */
function openFresh(dir: string, engine: Engine): StateDatabase {
  let raw: SqliteDatabase | undefined;
  const state = StateDatabase.open(dir, (databasePath) => (raw = engine.open(databasePath)));
  const pragma = (name: string): unknown => Object.values(raw!.prepare(`PRAGMA ${name}`).get() ?? {})[0];
  if (pragma("journal_mode") !== "wal" || pragma("synchronous") !== 2) {
    state.close();
    throw new Error(`${engine.label}: journal_mode ${String(pragma("journal_mode"))}, synchronous ${String(pragma("synchronous"))}, not wal and 2 (FULL)`);
  }
  return state;
}

/** write() of `commits` everyday groups, one after another; each commit's milliseconds. */
function commitLatencies(dir: string, engine: Engine, commits: number): number[] {
  const state = openFresh(dir, engine);
  try {
    const times: number[] = [];
    for (let commit = 0; commit < commits; commit++) {
      // A hundred jobs in turn, ten hosts each: the first groups add series, the rest update them.
      const counts = Array.from({ length: PAIRS_PER_GROUP }, (_, pair) => ({ host: `host-${pair}`, jobName: `job-${commit % 100}`, count: commit + 1 }));
      const rows = groupRows(counts, 0, (commit + 1) * 1_000);
      const startMs = performance.now();
      state.write(rows);
      times.push(performance.now() - startMs);
    }
    return times;
  } finally {
    state.close();
  }
}

/** write() of groups of 2,000 count rows: `rows / 2` new series, then as many updates of them; count rows per second. */
function bulkRowsPerSecond(dir: string, engine: Engine, rows: number): number {
  const state = openFresh(dir, engine);
  try {
    const distinct = rows / 2;
    const startMs = performance.now();
    for (let first = 0, group = 0; first < rows; first += BULK_ROWS_PER_GROUP, group++) {
      const counts = Array.from({ length: BULK_ROWS_PER_GROUP }, (_, offset) => ({
        ...series((first + offset) % distinct),
        count: first < distinct ? 1 : 2,
      }));
      state.write(groupRows(counts, 0, (group + 1) * 100_000));
    }
    return rows / ((performance.now() - startMs) / 1000);
  } finally {
    state.close();
  }
}

/** Writes, with `engine`, a state of `seriesCount` series and RESUME_SOURCES sources of GENERATIONS_PER_SOURCE generations each. */
function writeResumeState(dir: string, engine: Engine, seriesCount: number): void {
  const state = openFresh(dir, engine);
  try {
    for (let first = 0; first < seriesCount; first += BULK_ROWS_PER_GROUP) {
      const length = Math.min(BULK_ROWS_PER_GROUP, seriesCount - first);
      state.write(
        groupRows(
          Array.from({ length }, (_, offset) => ({ ...series(first + offset), count: first + offset + 1 })),
          0,
          0,
        ),
      );
    }
    for (let source = 0; source < RESUME_SOURCES; source++) {
      const rows = groupRows([], source, 1_000_000);
      const [generation] = rows.generations;
      const generations = Array.from({ length: GENERATIONS_PER_SOURCE }, (_, epoch) => ({
        ...generation!,
        epoch: epoch + 1,
        generation: generationId(generation!.fileId, epoch + 1),
      }));
      state.write({ ...rows, generations, sources: [{ ...rows.sources[0]!, latestGeneration: generations.at(-1)!.generation }] });
    }
  } finally {
    state.close();
  }
}

/** StateDatabase.open() + load() of the state in `dir`, RESUME_REPEATS times; the median milliseconds. */
function resumeMs(dir: string, engine: Engine, seriesCount: number): number {
  const times: number[] = [];
  for (let repeat = 0; repeat < RESUME_REPEATS; repeat++) {
    const startMs = performance.now();
    const state = StateDatabase.open(dir, (databasePath) => engine.open(databasePath));
    let loaded: number;
    try {
      loaded = state.load().series.length;
    } finally {
      state.close();
    }
    times.push(performance.now() - startMs);
    if (loaded !== seriesCount) throw new Error(`${engine.label}: load() returned ${loaded} series, not ${seriesCount}`);
  }
  return median(times);
}

/** Every measure of one engine in one run, each on a fresh state directory under `dir`. */
function measureEngine(dir: string, engine: Engine, sizes: { commits: number; bulkRows: number; resumeSeries: number }): EngineRun {
  const fresh = (name: string): string => path.join(dir, `${engine.label.replace(/\W+/g, "-")}-${name}`);
  const latencies = commitLatencies(fresh("commits"), engine, sizes.commits);
  const bulkRows = bulkRowsPerSecond(fresh("bulk"), engine, sizes.bulkRows);
  writeResumeState(fresh("resume"), engine, sizes.resumeSeries);
  return {
    commitP50: percentile(latencies, 50),
    commitP99: percentile(latencies, 99),
    bulkRowsPerSecond: bulkRows,
    resumeMs: resumeMs(fresh("resume"), engine, sizes.resumeSeries),
  };
}

/** node:sqlite as the aggregator opens it (what openSqlite() does), and better-sqlite3 through the adapter. */
function engines(betterSqlite3: BetterSqlite3Engine): readonly [Engine, Engine] {
  return [
    { label: "node:sqlite", open: (databasePath) => new DatabaseSync(databasePath) },
    { label: `better-sqlite3 ${betterSqlite3.version}`, open: betterSqlite3.open },
  ];
}

export const enginesFigure: Figure = {
  id: "engines",
  title: "11. SQLite engines under the aggregator's state code: node:sqlite beside better-sqlite3",
  async measure(context: BenchContext) {
    const betterSqlite3 = loadBetterSqlite3();
    const [nodeSqlite, better] = engines(betterSqlite3);
    const sizes = context.quick ? { commits: 300, bulkRows: 20_000, resumeSeries: 10_000 } : { commits: 3_000, bulkRows: 200_000, resumeSeries: 100_000 };
    const runs = await repeatRuns(
      context,
      "engines",
      async (run) => {
        const dir = createScratchDir("engines");
        try {
          // The order alternates from run to run, so that a slow start or a busy disk falls on both engines alike.
          const order = run % 2 === 1 ? [nodeSqlite, better] : [better, nodeSqlite];
          const measured = new Map(order.map((engine) => [engine, measureEngine(path.join(dir, `run-${run}`), engine, sizes)]));
          const ofNode = measured.get(nodeSqlite)!;
          const ofBetter = measured.get(better)!;
          return {
            nodeP50: ofNode.commitP50,
            betterP50: ofBetter.commitP50,
            nodeP99: ofNode.commitP99,
            betterP99: ofBetter.commitP99,
            nodeBulk: ofNode.bulkRowsPerSecond,
            betterBulk: ofBetter.bulkRowsPerSecond,
            nodeResume: ofNode.resumeMs,
            betterResume: ofBetter.resumeMs,
          };
        } finally {
          removeScratchDir(dir);
        }
      },
      (values) =>
        `commit p50 ${formatValue(values.nodeP50, "ms")} / ${formatValue(values.betterP50, "ms")}, ` +
        `p99 ${formatValue(values.nodeP99, "ms")} / ${formatValue(values.betterP99, "ms")}, ` +
        `bulk ${formatValue(values.nodeBulk, "rows/s")} / ${formatValue(values.betterBulk, "rows/s")}, ` +
        `resume ${formatValue(values.nodeResume, "ms")} / ${formatValue(values.betterResume, "ms")} (node:sqlite / ${better.label})`,
    );
    const ratio = (a: readonly number[], b: readonly number[]) => a.map((value, run) => value / b[run]!);
    const compared = (label: string, unit: Measurement["unit"], ofNode: number[], ofBetter: number[]): Measurement[] => [
      { label: `${label}: ${nodeSqlite.label}`, unit, values: ofNode },
      { label: `${label}: ${better.label}`, unit, values: ofBetter },
      { label: `${label}: ${nodeSqlite.label} / better-sqlite3`, unit: "ratio", values: ratio(ofNode, ofBetter) },
    ];
    const seriesText = `${(sizes.resumeSeries / 1000).toLocaleString("en")}k`;
    return {
      measurements: [
        ...compared(`commit latency, ${PAIRS_PER_GROUP} + 1 + 1 rows, p50`, "ms", runs.nodeP50, runs.betterP50),
        ...compared(`commit latency, p99 of ${sizes.commits.toLocaleString("en")}`, "ms", runs.nodeP99, runs.betterP99),
        ...compared(`bulk, groups of ${BULK_ROWS_PER_GROUP.toLocaleString("en")} count rows`, "rows/s", runs.nodeBulk, runs.betterBulk),
        ...compared(`resume at ${seriesText} series, open + load()`, "ms", runs.nodeResume, runs.betterResume),
      ],
      notes: [
        `the aggregator's own StateDatabase on each engine in turns (the order alternating per run), each measure on a fresh state; ` +
          `both checked to run with journal_mode=wal and synchronous=FULL; SQLite ${process.versions.sqlite} in node:sqlite (Node.js ${process.version}), ` +
          `${betterSqlite3.sqliteVersion} in better-sqlite3 ${betterSqlite3.version}, each with its own compile-time defaults (cache_size among them)`,
        `commit latency: write() of one everyday group (${PAIRS_PER_GROUP} count rows, a generation row and a source row, one transaction and its fsync), ` +
          `${sizes.commits.toLocaleString("en")} in a row; bulk: write() of groups of ${BULK_ROWS_PER_GROUP.toLocaleString("en")} count rows ` +
          `until ${sizes.bulkRows.toLocaleString("en")} are written, ${(sizes.bulkRows / 2).toLocaleString("en")} new series then as many updates of them`,
        `resume: the median of ${RESUME_REPEATS} StateDatabase.open() (its quick_check included) + load() of a state of ${seriesText} series, ` +
          `${RESUME_SOURCES * GENERATIONS_PER_SOURCE} generations and ${RESUME_SOURCES} sources written beforehand by the same engine`,
        "ratios are node:sqlite / better-sqlite3: below 1× node:sqlite takes less time; for rows/s above 1× it writes faster. " +
          "/metrics at 100k series is rendered from the view in memory and never touches the engine: it costs the same on both",
      ],
    };
  },
};

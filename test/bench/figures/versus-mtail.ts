import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createScratchDir, removeScratchDir, track } from "../cleanup";
import { RowCycle, countPairsOf, writeRows } from "../data-file";
import { atLeast, repeatRuns, type BenchContext, type Figure } from "../figure";
import { MtailDaemon, mtailVersion, runMtailOneShot, writeMtailProgram } from "../mtail";
import { formatValue } from "../report";
import { sleep } from "../stats";
import { logtallyRowsPerSecond } from "./throughput";

const COPY_CHUNK_BYTES = 16 * 1024 * 1024;
const MTAIL_POLL_MS = 250;

/** Distinct pairs of the file mtail's counts are checked on: few enough that each pair has several rows. */
const CHECK_PAIRS = 1_000;

/** Checks that mtail's program counts exactly what the file holds, pair by pair, so the comparison is honest. */
async function checkMtailCounts(dir: string, progs: string, rows: number, pairs = CHECK_PAIRS): Promise<string> {
  const file = path.join(dir, "check.csv");
  writeRows(file, new RowCycle(pairs, 7), rows);
  const expected = countPairsOf(file);
  const { counts } = await runMtailOneShot(progs, file);
  const wrong = [...new Set([...expected.keys(), ...counts.keys()])].filter((key) => expected.get(key) !== counts.get(key));
  if (wrong.length > 0) {
    throw new Error(`mtail's counts differ from the file's on ${wrong.length} pairs, e.g. ${wrong[0]}: ${counts.get(wrong[0]!)} ≠ ${expected.get(wrong[0]!)}`);
  }
  fs.rmSync(file);
  return `mtail's counts equal the file's for each of ${expected.size.toLocaleString("en")} pairs on a ${rows.toLocaleString("en")}-row file`;
}

/** mtail following a file: rows per second from the moment `source`'s rows start being appended until all are counted. */
async function mtailTailingRowsPerSecond(dir: string, progs: string, source: string, rows: number): Promise<number> {
  const tailed = path.join(dir, "tailed.csv");
  fs.writeFileSync(tailed, "");
  const mtail = await MtailDaemon.start(progs, tailed);
  try {
    const startMs = performance.now();
    // Appending 200 MB from the page cache takes a fraction of a second; mtail reads meanwhile.
    const input = fs.openSync(source, "r");
    const output = fs.openSync(tailed, "a");
    const buffer = Buffer.alloc(COPY_CHUNK_BYTES);
    for (let read: number; (read = fs.readSync(input, buffer, 0, buffer.length, null)) > 0; ) {
      for (let at = 0; at < read; ) at += fs.writeSync(output, buffer, at, read - at);
    }
    fs.closeSync(input);
    fs.closeSync(output);
    const deadline = startMs + Math.max(120_000, (rows / 20_000) * 1000);
    for (;;) {
      const total = await mtail.totalCounted();
      const endMs = performance.now();
      if (total === rows) return rows / ((endMs - startMs) / 1000);
      if (total > rows) throw new Error(`mtail counted ${total} rows of ${rows}`);
      if (endMs > deadline) throw new Error(`mtail counted only ${total} of ${rows} rows in ${((endMs - startMs) / 1000).toFixed(0)} s`);
      await sleep(MTAIL_POLL_MS);
    }
  } finally {
    await mtail.stop();
    fs.rmSync(tailed, { force: true });
  }
}

/** `wc -l`, the floor: rows per second from spawn to exit. */
async function wcRowsPerSecond(file: string, rows: number): Promise<number> {
  const startMs = performance.now();
  const child = track(spawn("wc", ["-l", file], { stdio: ["ignore", "pipe", "inherit"] }));
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await new Promise((resolve) => child.once("exit", resolve));
  const seconds = (performance.now() - startMs) / 1000;
  if (Number.parseInt(output, 10) !== rows) throw new Error(`wc -l counted ${output.trim()}, expected ${rows}`);
  return rows / seconds;
}

export const versusMtailFigure: Figure = {
  id: "mtail",
  title: "2. Versus mtail on the same file, same run (and wc -l as the floor)",
  async measure(context: BenchContext) {
    const { throughputRows: rows, throughputPairs: pairs, mtailCheckRows } = context.sizes;
    const version = mtailVersion();
    const dir = createScratchDir("mtail");
    try {
      const progs = writeMtailProgram(dir);
      const checked = await checkMtailCounts(dir, progs, mtailCheckRows);
      const file = path.join(dir, "log.csv");
      writeRows(file, new RowCycle(pairs), rows);
      const runs = await repeatRuns(
        context,
        "mtail",
        async () => {
          const logtally = await logtallyRowsPerSecond(dir, file, rows);
          const oneShot = await runMtailOneShot(progs, file);
          const oneShotTotal = [...oneShot.counts.values()].reduce((sum, count) => sum + count, 0);
          if (oneShotTotal !== rows) throw new Error(`mtail --one_shot counted ${oneShotTotal} rows of ${rows}`);
          const mtailOneShot = rows / oneShot.seconds;
          const mtailTailing = await mtailTailingRowsPerSecond(dir, progs, file, rows);
          const wc = await wcRowsPerSecond(file, rows);
          return { logtally, mtailOneShot, mtailTailing, wc, ratioOneShot: logtally / mtailOneShot, ratioTailing: logtally / mtailTailing };
        },
        (values) =>
          `logtally ${formatValue(values.logtally, "rows/s")}, mtail one-shot ${formatValue(values.mtailOneShot, "rows/s")}, ` +
          `mtail tailing ${formatValue(values.mtailTailing, "rows/s")}, wc -l ${formatValue(values.wc, "rows/s")}`,
      );
      const size = `${(rows / 1e6).toLocaleString("en")} M rows, ${pairs.toLocaleString("en")} pairs`;
      const tenTimes = atLeast(10, "≥ 10×");
      return {
        measurements: [
          { label: `logtally (sidecar + aggregator), ${size}`, unit: "rows/s", values: runs.logtally },
          { label: "mtail --one_shot (spawn to exit)", unit: "rows/s", values: runs.mtailOneShot },
          { label: `mtail tailing (append to all counted, polled every ${MTAIL_POLL_MS} ms)`, unit: "rows/s", values: runs.mtailTailing },
          { label: "wc -l (floor)", unit: "rows/s", values: runs.wc },
          { label: "logtally / mtail --one_shot", unit: "ratio", values: runs.ratioOneShot, target: tenTimes },
          { label: "logtally / mtail tailing", unit: "ratio", values: runs.ratioTailing, target: tenTimes },
        ],
        notes: [
          version,
          checked,
          "mtail, like logtally, runs with its defaults; it tails by polling every 250 ms, and starts an existing file at its end, so its tailing run appends the rows after it started",
        ],
      };
    } finally {
      removeScratchDir(dir);
    }
  },
};

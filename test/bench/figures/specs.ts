import * as fs from "node:fs";
import * as path from "node:path";
import { seededRandom } from "@logtally/testing";
import { APP_EVENTS_LABELS_SPEC } from "../../support/json-log-writer";
import { catchUp } from "../catch-up";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { BYTES_PER_ROW, RowCycle, writeRows } from "../data-file";
import { atLeast, repeatRuns, type BenchContext, type Build, type Figure, type Measurement } from "../figure";
import { killAll, startBenchAggregator } from "../pipeline";
import { cpuSecondsOf } from "../proc-usage";
import { formatValue } from "../report";

/** Distinct lines each generated file cycles through (its series are fewer: the labels repeat). */
const DISTINCT_LINES = 4_096;

/** A log and the counting spec that reads it, beside the default CSV. */
interface SpecCase {
  readonly id: string;
  readonly label: string;
  /** The sidecar's flags for it. */
  readonly args: readonly string[];
  /** The file's first line, if it has a header. */
  readonly header?: string;
  /** Line `index` of the cycle, with its `\n`. */
  line(index: number, random: () => number): string;
}

const METHODS = ["GET", "POST", "PUT", "DELETE"];
const PATHS = ["/cart", "/checkout", "/search", "/login", "/api/items", "/api/orders", "/static/app.js", "/healthz"];
const STATUSES = [200, 201, 301, 404, 503];
const LEVELS = ["debug", "info", "warn", "error"];
const SERVICES = ["cart", "checkout", "search", "auth", "catalog"];

function pick<T>(values: readonly T[], random: () => number): T {
  return values[Math.floor(random() * values.length)]!;
}

/** An nginx-style access log with a header: four labels by header name. */
const CSV_FOUR_LABELS: SpecCase = {
  id: "csv4",
  label: "4-label CSV with a header (method, path, status, remote_addr)",
  args: ["--metric", "http_requests", "--label", "method=method", "--label", "path=path", "--label", "status=status", "--label", "remote_addr=remote_addr"],
  header: "time,remote_addr,method,path,status,bytes\n",
  line: (index, random) =>
    `2026-12-07T10:${String(Math.floor(index / 60) % 60).padStart(2, "0")}:${String(index % 60).padStart(2, "0")}Z,` +
    `10.0.${Math.floor(random() * 4)}.${Math.floor(random() * 8)},${pick(METHODS, random)},${pick(PATHS, random)},${pick(STATUSES, random)},${Math.floor(random() * 100_000)}\n`,
};

/** Kubernetes JSON logs: four labels, two of them nested paths, one a number. */
const JSON_LINES_FOUR_LABELS: SpecCase = {
  id: "jsonl4",
  label: "4-label JSON lines (level, service, namespace, status; nested paths)",
  args: APP_EVENTS_LABELS_SPEC,
  line: (index, random) => {
    const service = pick(SERVICES, random);
    return `${JSON.stringify({
      time: `2026-12-07T10:00:${String(index % 60).padStart(2, "0")}.${String(index % 1000).padStart(3, "0")}Z`,
      stream: "stdout",
      level: pick(LEVELS, random),
      msg: `handled request ${index} in ${Math.floor(random() * 900)} ms`,
      status: pick(STATUSES, random),
      kubernetes: { namespace_name: pick(["shop", "shop-canary"], random), pod_name: `${service}-7d9f-${index % 10}`, labels: { app: service } },
    })}\n`;
  },
};

/** Writes `spec`'s log of about `bytes` bytes to `file`; returns its lines (the header not among them). */
function writeSpecLog(file: string, spec: SpecCase, bytes: number): number {
  const random = seededRandom(7);
  const cycle = Buffer.from(Array.from({ length: DISTINCT_LINES }, (_, index) => spec.line(index, random)).join(""));
  const cycles = Math.max(1, Math.round(bytes / cycle.length));
  const fd = fs.openSync(file, "w");
  try {
    if (spec.header) fs.writeSync(fd, spec.header);
    for (let written = 0; written < cycles; written++) fs.writeSync(fd, cycle);
  } finally {
    fs.closeSync(fd);
  }
  return cycles * DISTINCT_LINES;
}

/** One sidecar catching up on `file` through a fresh aggregator: rows/s of wall time, and rows per second of the sidecar's CPU. */
async function measureSidecar(dir: string, file: string, rows: number, build: Build, args: readonly string[]): Promise<{ wall: number; perCore: number }> {
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const aggregator = await startBenchAggregator(runDir, build.programs);
  try {
    const { sidecar, seconds } = await catchUp(aggregator, { file, sourceId: "bench", programs: build.programs, extraArgs: args });
    const cpuSeconds = cpuSecondsOf(sidecar.child.pid!);
    await killAll([sidecar]);
    return { wall: rows / seconds, perCore: rows / cpuSeconds };
  } finally {
    await killAll([aggregator]);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

export const specsFigure: Figure = {
  id: "specs",
  title: "12. Counting specs: the default CSV beside the baseline build, a 4-label CSV and JSON lines, rows per second of sidecar CPU",
  async measure(context: BenchContext) {
    const { throughputRows: rows, throughputPairs: pairs } = context.sizes;
    const bytes = rows * BYTES_PER_ROW;
    const dir = createScratchDir("specs");
    try {
      const defaultFile = path.join(dir, "log.csv");
      writeRows(defaultFile, new RowCycle(pairs), rows);
      const cases = [CSV_FOUR_LABELS, JSON_LINES_FOUR_LABELS].map((spec) => {
        const file = path.join(dir, `${spec.id}.log`);
        return { spec, file, lines: writeSpecLog(file, spec, bytes) };
      });
      const [current, baseline] = context.builds;
      const runs = await repeatRuns(
        context,
        "specs",
        async (run) => {
          const values: Record<string, number> = {};
          // The builds in turns, the order alternating per run: the machine's noise falls on both alike.
          const order = run % 2 === 1 ? context.builds : [...context.builds].reverse();
          for (const build of order) {
            const measured = await measureSidecar(dir, defaultFile, rows, build, []);
            values[`default ${build.label}`] = measured.perCore;
            values[`default wall ${build.label}`] = measured.wall;
          }
          if (baseline) values["default ratio"] = values[`default ${current!.label}`]! / values[`default ${baseline.label}`]!;
          for (const { spec, file, lines } of cases) {
            const measured = await measureSidecar(dir, file, lines, current!, spec.args);
            values[spec.id] = measured.perCore;
            values[`${spec.id} wall`] = measured.wall;
          }
          return values;
        },
        (values) =>
          Object.entries(values)
            .map(([name, value]) => `${name} ${formatValue(value, name.includes("ratio") ? "ratio" : "rows/s")}`)
            .join(", "),
      );
      const measurements: Measurement[] = [];
      for (const build of context.builds) {
        measurements.push(
          { label: `default CSV (host,job_name), ${build.label}: rows per sidecar CPU second`, unit: "rows/s", values: runs[`default ${build.label}`]! },
          { label: `default CSV, ${build.label}: rows/s end to end`, unit: "rows/s", values: runs[`default wall ${build.label}`]! },
        );
      }
      if (baseline) {
        measurements.push({
          label: `default CSV: ${current!.label} / ${baseline.label}, per sidecar CPU second`,
          unit: "ratio",
          values: runs["default ratio"]!,
          target: atLeast(0.95, "≥ 0.95"),
        });
      }
      for (const { spec } of cases) {
        measurements.push(
          {
            label: `${spec.label}: rows per sidecar CPU second`,
            unit: "rows/s",
            values: runs[spec.id]!,
            ...(spec === JSON_LINES_FOUR_LABELS ? { target: atLeast(500_000, "≥ 500 k rows/s") } : {}),
          },
          { label: `${spec.label}: rows/s end to end`, unit: "rows/s", values: runs[`${spec.id} wall`]! },
        );
      }
      return {
        measurements,
        notes: [
          `each file about ${formatValue(bytes, "MB")}, in the page cache; ${cases.map(({ spec, lines }) => `${spec.id}: ${lines.toLocaleString("en")} lines`).join(", ")}; the default file: ${rows.toLocaleString("en")} rows, ${pairs.toLocaleString("en")} pairs`,
          "rows per sidecar CPU second: the lines counted divided by the sidecar process's CPU (user + system, all threads) from its spawn until the aggregator committed the file's end",
          ...(baseline ? [] : ["give --baseline DIR (a checkout of the commit before counting specs, built) for the default path's ratio"]),
        ],
      };
    } finally {
      removeScratchDir(dir);
    }
  },
};

import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { installCleanup, killTrackedChildren } from "./cleanup";
import type { BenchContext, Figure } from "./figure";
import { FULL_SIZES, QUICK_SIZES } from "./sizes";
import { describeMachine, formatMachine } from "./machine";
import { formatTable, writeJson, type FigureReport } from "./report";
import { throughputFigure } from "./figures/throughput";
import { versusMtailFigure } from "./figures/versus-mtail";
import { recountCpuFigure } from "./figures/recount-cpu";
import { freshnessFigure } from "./figures/freshness";
import { scrapeCostFigure } from "./figures/scrape-cost";
import { memoryFigure } from "./figures/memory";
import { resumeFigure } from "./figures/resume";
import { capacityFigure } from "./figures/capacity";
import { everydayFigure } from "./figures/everyday";
import { storesFigure } from "./figures/stores";
import { enginesFigure } from "./figures/engines";
import { specsFigure } from "./figures/specs";
import { THIS_BUILD, programsIn } from "../support/processes";

/** Every figure of the issue, in its order; `--only` picks by id. */
const FIGURES: readonly Figure[] = [
  throughputFigure,
  versusMtailFigure,
  recountCpuFigure,
  freshnessFigure,
  scrapeCostFigure,
  memoryFigure,
  resumeFigure,
  capacityFigure,
  everydayFigure,
  storesFigure,
  enginesFigure,
  specsFigure,
];

const USAGE = `Usage: npm run bench -- [--runs N] [--quick] [--only id,id] [--baseline DIR] [--json FILE]

Benchmarks the real sidecar and aggregator (built from this tree) and prints,
for each figure, the median of N runs (default 3), each run's value, the
target from the issue (PASS/MISS) and the command that reproduces the figure.
  --quick       about 10x smaller files, sample counts and windows (a smoke run)
  --only ids    run only these figures: ${FIGURES.map((figure) => figure.id).join(", ")}
  --baseline DIR  also measure the build in checkout DIR (an earlier commit, built there with
                npm ci && npm run build) beside this one, in turns, in the same run: the
                everyday and capacity figures then print both
  --json FILE   also write the results (every run's value) as JSON`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "3" },
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      json: { type: "string" },
      baseline: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(values.runs);
  const only = values.only?.split(",").filter(Boolean);
  const unknown = only?.filter((id) => !FIGURES.some((figure) => figure.id === id)) ?? [];
  if (!Number.isSafeInteger(runs) || runs < 1 || unknown.length > 0) {
    console.error(unknown.length > 0 ? `unknown figure(s): ${unknown.join(", ")}\n\n${USAGE}` : `--runs must be a positive integer\n\n${USAGE}`);
    return 2;
  }
  installCleanup();
  const quick = values.quick;
  const baseline = values.baseline ? programsIn(values.baseline) : undefined;
  for (const main of baseline ? [baseline.aggregatorMain, baseline.sidecarMain] : []) {
    if (!fs.existsSync(main)) {
      console.error(`--baseline ${values.baseline}: ${main} not found: build that checkout first (npm ci && npm run build)`);
      return 2;
    }
  }
  const context: BenchContext = {
    runs,
    quick,
    sizes: quick ? QUICK_SIZES : FULL_SIZES,
    builds: [{ label: "logtally", programs: THIS_BUILD }, ...(baseline ? [{ label: `baseline (${values.baseline})`, programs: baseline }] : [])],
    progress: (message) => process.stderr.write(`  ${message}\n`),
  };
  const machine = describeMachine();
  console.log(`logtally benchmarks${quick ? " (--quick: sizes about 10x smaller than the issue's)" : ""}, ${runs} run(s) per figure`);
  console.log(formatMachine(machine));
  const selected = FIGURES.filter((figure) => !only || only.includes(figure.id));
  const reports: FigureReport[] = [];
  for (const figure of selected) {
    const flags = [
      `--only ${figure.id}`,
      ...(quick ? ["--quick"] : []),
      ...(runs !== 3 ? [`--runs ${runs}`] : []),
      ...(values.baseline ? [`--baseline ${values.baseline}`] : []),
    ];
    const reproduce = `npm run bench -- ${flags.join(" ")}`;
    process.stderr.write(`\n${figure.title}\n`);
    const startMs = performance.now();
    try {
      const outcome = await figure.measure(context);
      reports.push({ id: figure.id, title: figure.title, reproduce, outcome, seconds: (performance.now() - startMs) / 1000 });
    } catch (error) {
      process.stderr.write(`  ${figure.id} failed: ${(error as Error)?.stack ?? String(error)}\n`);
      reports.push({
        id: figure.id,
        title: figure.title,
        reproduce,
        error: (error as Error)?.message ?? String(error),
        seconds: (performance.now() - startMs) / 1000,
      });
    } finally {
      killTrackedChildren();
    }
  }
  console.log(`\n${formatTable(reports, runs)}`);
  if (values.json) {
    writeJson(values.json, { machine, options: { runs, quick, only: only ?? null, baseline: values.baseline ?? null, sizes: context.sizes }, reports });
    console.log(`\nresults written to ${values.json}`);
  }
  return reports.some((report) => report.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

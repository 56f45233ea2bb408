import * as fs from "node:fs";
import * as path from "node:path";
import type { AggregatorProcess } from "../../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { createScratchDir, removeScratchDir } from "../cleanup";
import { atMost, below, type BenchContext, type Build, type Figure, type Measurement, type Target } from "../figure";
import { MtailDaemon, mtailVersion, writeMtailProgram } from "../mtail";
import { CommitProbe, killAll, startBenchAggregator, startBenchSidecar } from "../pipeline";
import { CpuWindow } from "../proc-usage";
import { formatValue } from "../report";
import { sleep } from "../stats";
import { WorkerProcess } from "../worker-process";
import type { SteadyWritersCommand, SteadyWritersInit, SteadyWritersMessage } from "../workers/steady-writers";

/** Rows per write(2): an application logging a few lines at a time. */
const ROWS_PER_WRITE = 10;
/** The line each file starts with, so a sidecar can name the file before the writers begin. */
const FIRST_LINE = "host-start,job-start\n";
/** After the writers stop: how long sidecars and mtail may take to show every row (something is broken past that). */
const CATCH_UP_TIMEOUT_MS = 120_000;
const SECONDS_PER_HOUR = 3600;

/** CPU per hour of each kind of process over one window. */
interface Usage {
  /** Mean over the sidecars. */
  readonly sidecar: number;
  /** The one aggregator. */
  readonly aggregator: number;
  /** Mean over the mtail processes (one per file, as one per pod). */
  readonly mtail: number;
}

/** One pod per file: its sidecar and the mtail that would replace it, shipping to one aggregator. */
class Pods {
  private constructor(
    readonly aggregator: AggregatorProcess,
    readonly sidecars: readonly RunningProcess[],
    readonly mtails: readonly MtailDaemon[],
    readonly files: readonly string[],
  ) {}

  /** Starts an aggregator, then a sidecar and an mtail per file, and waits until every sidecar has shipped the file's first line. */
  static async start(dir: string, build: Build, count: number, progs: string): Promise<Pods> {
    const files = Array.from({ length: count }, (_, index) => path.join(dir, `pod-${index}.csv`));
    for (const file of files) fs.writeFileSync(file, FIRST_LINE);
    const aggregator = await startBenchAggregator(dir, build.programs);
    const sidecars: RunningProcess[] = [];
    const mtails: MtailDaemon[] = [];
    const pods = new Pods(aggregator, sidecars, mtails, files);
    try {
      files.forEach((file, index) =>
        sidecars.push(startBenchSidecar(`sidecar-${index}`, { file, aggregator, sourceId: `pod-${index}`, programs: build.programs })),
      );
      for (const file of files) mtails.push(await MtailDaemon.start(progs, file));
      const probe = new CommitProbe(aggregator);
      try {
        for (let index = 0; index < count; index++) {
          await probe.waitForOffset(`pod-${index}`, (offset) => offset === FIRST_LINE.length, { timeoutMs: 60_000, watch: sidecars });
        }
      } finally {
        probe.close();
      }
      return pods;
    } catch (error) {
      await pods.stop();
      throw error;
    }
  }

  /** CPU per hour of each kind of process over `windowMs`. */
  async measure(windowMs: number): Promise<Usage> {
    const pids = [...this.sidecars.map((sidecar) => sidecar.child.pid!), this.aggregator.child.pid!, ...this.mtails.map((mtail) => mtail.pid)];
    const window = new CpuWindow(pids);
    window.start();
    await sleep(windowMs);
    const { cpuSecondsByPid, wallSeconds } = window.stop();
    const perHour = (cpuSeconds: number): number => (cpuSeconds / wallSeconds) * SECONDS_PER_HOUR;
    const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
    const count = this.sidecars.length;
    return {
      sidecar: perHour(mean(cpuSecondsByPid.slice(0, count))),
      aggregator: perHour(cpuSecondsByPid[count]!),
      mtail: perHour(mean(cpuSecondsByPid.slice(count + 1))),
    };
  }

  /**
   * After the writers stopped with `rowsByFile` appended: waits until every
   * sidecar's committed offset is its file's size and every mtail counted its
   * file's rows, so that neither was measured while falling behind.
   */
  async checkEverythingCounted(rowsByFile: readonly number[]): Promise<void> {
    const probe = new CommitProbe(this.aggregator);
    try {
      for (const [index, file] of this.files.entries()) {
        const size = fs.statSync(file).size;
        await probe.waitForOffset(`pod-${index}`, (offset) => offset === size, { timeoutMs: CATCH_UP_TIMEOUT_MS, watch: this.sidecars });
      }
    } finally {
      probe.close();
    }
    const deadline = performance.now() + CATCH_UP_TIMEOUT_MS;
    for (const [index, mtail] of this.mtails.entries()) {
      for (;;) {
        const counted = await mtail.totalCounted();
        if (counted === rowsByFile[index]) break;
        if (counted > rowsByFile[index]! || performance.now() > deadline) {
          throw new Error(`mtail of pod-${index} counted ${counted} of the ${rowsByFile[index]} rows appended`);
        }
        await sleep(100);
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.mtails.map((mtail) => mtail.stop()));
    await killAll([...this.sidecars, this.aggregator]);
  }
}

/**
 * Measures `build` with `count` pods whose applications each append
 * `rowsPerSecond` rows a second (none: idle): settles, then `runs` windows.
 */
async function measurePods(context: BenchContext, build: Build, count: number, rowsPerSecond: number, progs: string): Promise<Usage[]> {
  const { everydaySettleMs, everydayWindowMs } = context.sizes;
  const dir = createScratchDir("everyday");
  let pods: Pods | undefined;
  let writers: WorkerProcess<SteadyWritersMessage, SteadyWritersCommand> | undefined;
  try {
    pods = await Pods.start(dir, build, count, progs);
    if (rowsPerSecond > 0) {
      const init: SteadyWritersInit = { files: pods.files, rowsPerSecond, rowsPerWrite: ROWS_PER_WRITE, pairs: context.sizes.everydayPairs };
      writers = new WorkerProcess<SteadyWritersMessage, SteadyWritersCommand>("steady-writers", init);
      await writers.next("ready");
      writers.send({ type: "go" });
    }
    // Start-up, JIT compilation and the first garbage collections are not the everyday cost.
    await sleep(everydaySettleMs);
    const usages: Usage[] = [];
    for (let run = 1; run <= context.runs; run++) {
      const usage = await pods.measure(everydayWindowMs);
      usages.push(usage);
      context.progress(
        `${build.label}, ${count} pod(s) at ${rowsPerSecond.toLocaleString("en")} rows/s, window ${run}/${context.runs}: ` +
          `sidecar ${formatValue(usage.sidecar, "CPU s/h")}, aggregator ${formatValue(usage.aggregator, "CPU s/h")}, mtail ${formatValue(usage.mtail, "CPU s/h")}`,
      );
    }
    if (writers) {
      writers.send({ type: "stop" });
      const { rowsByFile } = await writers.next("stopped");
      await pods.checkEverythingCounted(rowsByFile);
    }
    return usages;
  } finally {
    await writers?.kill();
    await pods?.stop();
    removeScratchDir(dir);
  }
}

/** The table's lines for one build at one load. */
function linesFor(build: Build, count: number, rowsPerSecond: number, usages: readonly Usage[], ratioTarget: Target | undefined): Measurement[] {
  const at = `${count} pod${count === 1 ? "" : "s"} at ${rowsPerSecond.toLocaleString("en")} rows/s`;
  const perPod = usages.map((usage) => usage.sidecar + usage.aggregator / count);
  return [
    { label: `${build.label}, ${at}: sidecar (each)`, unit: "CPU s/h", values: usages.map((usage) => usage.sidecar) },
    { label: `${build.label}, ${at}: aggregator (all pods)`, unit: "CPU s/h", values: usages.map((usage) => usage.aggregator) },
    { label: `${build.label}, ${at}: mtail (each, same files)`, unit: "CPU s/h", values: usages.map((usage) => usage.mtail) },
    {
      label: `${build.label}, ${at}: (sidecar + aggregator / ${count}) / mtail`,
      unit: "ratio",
      values: perPod.map((value, index) => value / usages[index]!.mtail),
      target: ratioTarget,
    },
  ];
}

export const everydayFigure: Figure = {
  id: "everyday",
  title: "9. Everyday cost: CPU per hour of sidecars and aggregator at the rates pods write, beside mtail tailing the same files",
  async measure(context: BenchContext) {
    const { everydayRates, everydayPods, everydayPairs, everydaySettleMs, everydayWindowMs } = context.sizes;
    const version = mtailVersion();
    const progsDir = createScratchDir("everyday-mtail");
    try {
      const progs = writeMtailProgram(progsDir);
      const measurements: Measurement[] = [];
      const [current] = context.builds;
      for (const build of context.builds) {
        const idle = await measurePods(context, build, 1, 0, progs);
        measurements.push({
          label: `${build.label}, idle pod: sidecar`,
          unit: "CPU s/h",
          values: idle.map((usage) => usage.sidecar),
          target: build === current ? below(5, "< 5 CPU s/h") : undefined,
        });
      }
      for (const count of everydayPods) {
        for (const rowsPerSecond of everydayRates) {
          // Builds in turns at each load, so that the machine's noise falls on both alike.
          for (const build of context.builds) {
            const usages = await measurePods(context, build, count, rowsPerSecond, progs);
            const target = build === current && rowsPerSecond === 1_000 ? atMost(1, "≤ 1× mtail") : undefined;
            measurements.push(...linesFor(build, count, rowsPerSecond, usages, target));
          }
        }
      }
      return {
        measurements,
        notes: [
          `each pod: one file written at a steady rate, ${ROWS_PER_WRITE} rows per write(2), ${everydayPairs} distinct pairs; its sidecar ships to one aggregator (SQLite), and one ${version} tails the same file`,
          `CPU of each process from /proc (its threads' scheduler time, in nanoseconds) over ${everydayWindowMs / 1000} s windows after ${everydaySettleMs / 1000} s of settling, scaled to an hour; the writers' CPU is nobody's`,
          "the ratio compares what a pod costs with logtally (its sidecar and its share of the aggregator) with what it costs with mtail; after each load, every row is checked counted by both",
        ],
      };
    } finally {
      removeScratchDir(progsDir);
    }
  },
};

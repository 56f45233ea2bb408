import type { Programs } from "../support/processes";
import type { BenchSizes } from "./sizes";

/** A build of logtally a figure measures: this checkout's, and with `--baseline` an earlier one beside it. */
export interface Build {
  /** How the build is named in the table: `logtally`, or `baseline`. */
  readonly label: string;
  readonly programs: Programs;
}

/** What a figure runs with. */
export interface BenchContext {
  readonly runs: number;
  readonly quick: boolean;
  readonly sizes: BenchSizes;
  /**
   * This checkout's build first, then the `--baseline` build if one was
   * given. Figures that compare builds measure them in turns, in one run, so
   * that the machine's noise falls on both alike.
   */
  readonly builds: readonly Build[];
  /** Progress for the person waiting (stderr); results go in the returned measurements. */
  progress(message: string): void;
}

/** The unit a value is in, which decides how it is printed. */
export type Unit = "rows/s" | "batches/s" | "ms" | "µs" | "s" | "MB" | "ratio" | "CPU s/h" | "cores";

/** A figure's target from the issue: printed next to the median, PASS when `met(median)`. */
export interface Target {
  readonly text: string;
  readonly met: (median: number) => boolean;
}

/** One line of the results table: a value measured once per run. */
export interface Measurement {
  readonly label: string;
  readonly unit: Unit;
  /** One value per run. */
  readonly values: readonly number[];
  readonly target?: Target;
}

/** What a figure measured, and remarks worth printing with it (checks made, caveats). */
export interface FigureOutcome {
  readonly measurements: readonly Measurement[];
  readonly notes: readonly string[];
}

/** One numbered figure of the issue, runnable alone with `--only <id>`. */
export interface Figure {
  readonly id: string;
  readonly title: string;
  measure(context: BenchContext): Promise<FigureOutcome>;
}

/**
 * Runs `measureOnce` `context.runs` times and gathers each named value into
 * its list of per-run values, reporting each run's values as progress.
 */
export async function repeatRuns<Name extends string>(
  context: BenchContext,
  figureId: string,
  measureOnce: (run: number) => Promise<Record<Name, number>>,
  describe: (values: Record<Name, number>) => string,
): Promise<Record<Name, number[]>> {
  const gathered = {} as Record<Name, number[]>;
  for (let run = 1; run <= context.runs; run++) {
    const values = await measureOnce(run);
    for (const [name, value] of Object.entries(values) as Array<[Name, number]>) (gathered[name] ??= []).push(value);
    context.progress(`${figureId} run ${run}/${context.runs}: ${describe(values)}`);
  }
  return gathered;
}

/** A target met by values at least `bound`. */
export function atLeast(bound: number, text: string): Target {
  return { text, met: (median) => median >= bound };
}

/** A target met by values at most `bound`. */
export function atMost(bound: number, text: string): Target {
  return { text, met: (median) => median <= bound };
}

/** A target met by values below `bound`. */
export function below(bound: number, text: string): Target {
  return { text, met: (median) => median < bound };
}

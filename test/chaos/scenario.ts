import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { seededRandom } from "@logtally/testing";
import { EXACT_FAULTS, inject, type FaultKind } from "./faults";
import { ChaosWorld, pause } from "./world";

/** How one scenario went. */
export interface ScenarioResult {
  readonly seed: number;
  readonly faults: FaultKind[];
  readonly rowsWritten: number;
  readonly rowsCounted: number;
  /** Rows written but not counted, over all pairs. */
  readonly lost: number;
  /** The most rows the scenario may lose: those written inside copytruncate windows (0 without copytruncate). */
  readonly lossBound: number;
  /** Rows counted more often than written, over all pairs. */
  readonly duplicated: number;
  /** Series on /metrics that no writer wrote. */
  readonly unexpectedSeries: number;
  /** True when the scenario may lose rows (copytruncate), at most `lossBound`. */
  readonly lossy: boolean;
  readonly ok: boolean;
  readonly error?: string;
  readonly durationMs: number;
  /** Directory kept with the logs of a failed scenario. */
  readonly keptDir?: string;
}

/** What to run: the faults (in order) or how many random ones. */
export interface ScenarioPlan {
  readonly seed: number;
  /** Faults to inject in this order; random exact faults when omitted. */
  readonly faults?: readonly FaultKind[];
  readonly faultCount?: number;
}

/**
 * Runs one seeded scenario: start the world, let rows flow, inject the faults
 * one after another with rows flowing in between, then stop writing, heal,
 * wait until every committed offset equals its file's size, and compare every
 * log_host_job_count series with the ground truth. It fails on any duplicate,
 * or on more lost rows than its copytruncate windows held.
 */
export async function runScenario(plan: ScenarioPlan): Promise<ScenarioResult> {
  const started = Date.now();
  const random = seededRandom(plan.seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logtally-chaos-${plan.seed}-`));
  const faults: FaultKind[] = plan.faults
    ? [...plan.faults]
    : Array.from({ length: plan.faultCount ?? 4 }, () => EXACT_FAULTS[Math.floor(random() * EXACT_FAULTS.length)]!);
  const lossy = faults.includes("copytruncate");
  const world = new ChaosWorld(dir, random);
  let error: string | undefined;
  let counts = { lost: 0, duplicated: 0, unexpectedSeries: 0, rowsWritten: 0, rowsCounted: 0 };
  try {
    await world.start({ lateSharedSidecar: faults.includes("shared_join_late") });
    world.startWriting();
    for (const fault of faults) {
      await pause(200 + random() * 800);
      await inject(world, fault);
    }
    await pause(200 + random() * 500);
    await world.stopWriting();
    await world.heal();
    await world.settle();
    const { counted, truth } = await world.compare();
    counts = tally(counted, truth);
    if (counts.duplicated > 0 || counts.unexpectedSeries > 0 || counts.lost > world.rowsInCopytruncateWindows) {
      error =
        `counts differ from the truth: lost ${counts.lost} (at most ${world.rowsInCopytruncateWindows} may be), ` +
        `duplicated ${counts.duplicated}, unexpected series ${counts.unexpectedSeries}`;
    }
  } catch (caught) {
    error = (caught as Error).stack ?? String(caught);
  } finally {
    await world.close();
  }
  let keptDir: string | undefined;
  if (error) {
    fs.writeFileSync(path.join(dir, "processes.log"), world.dump());
    keptDir = dir;
  } else {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    seed: plan.seed,
    faults,
    ...counts,
    lossBound: world.rowsInCopytruncateWindows,
    lossy,
    ok: error === undefined,
    error,
    durationMs: Date.now() - started,
    keptDir,
  };
}

function tally(counted: ReadonlyMap<string, number>, truth: ReadonlyMap<string, number>) {
  let lost = 0;
  let duplicated = 0;
  let unexpectedSeries = 0;
  let rowsWritten = 0;
  let rowsCounted = 0;
  for (const [key, written] of truth) {
    const seen = counted.get(key) ?? 0;
    rowsWritten += written;
    if (seen < written) lost += written - seen;
    if (seen > written) duplicated += seen - written;
  }
  for (const [key, seen] of counted) {
    rowsCounted += seen;
    if (!truth.has(key)) {
      unexpectedSeries++;
      duplicated += seen;
    }
  }
  return { lost, duplicated, unexpectedSeries, rowsWritten, rowsCounted };
}

/** One summary line for a scenario. */
export function formatResult(index: number, result: ScenarioResult): string {
  const verdict = result.ok ? "ok" : "FAILED";
  return (
    `run ${String(index).padStart(3)} seed ${result.seed} ${verdict} ` +
    `written ${result.rowsWritten} counted ${result.rowsCounted} lost ${result.lost}${result.lossy ? ` (at most ${result.lossBound})` : ""} duplicated ${result.duplicated} ` +
    `${(result.durationMs / 1000).toFixed(1)}s faults ${result.faults.join(",")}` +
    (result.ok
      ? ""
      : `\n    replay: npm run chaos -- --seed ${result.seed} --runs 1 --faults ${result.faults.join(",")}\n    logs: ${result.keptDir}\n    ${result.error}`)
  );
}

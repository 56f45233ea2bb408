import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { seededRandom } from "@logtally/testing";
import type { ChaosStore } from "./chaos-aggregators";
import { exactFaults, type FaultKind } from "./fault-kinds";
import { inject } from "./faults";
import { ChaosWorld, pause } from "./world";

/** How one scenario went. */
export interface ScenarioResult {
  readonly seed: number;
  /** The store it ran on, with its replica count on PostgreSQL. */
  readonly store: ChaosStore;
  readonly faults: FaultKind[];
  readonly rowsWritten: number;
  readonly rowsCounted: number;
  /** Rows written but not counted, over all pairs (with replicas: on the one furthest from the truth). */
  readonly lost: number;
  /** The most rows the scenario may lose: those written inside copytruncate windows (0 without copytruncate). */
  readonly lossBound: number;
  /** Rows counted more often than written, over all pairs (with replicas: on the one furthest from the truth). */
  readonly duplicated: number;
  /** Series on /metrics that no writer wrote. */
  readonly unexpectedSeries: number;
  /** True when the scenario may lose rows (copytruncate), at most `lossBound`. */
  readonly lossy: boolean;
  readonly ok: boolean;
  readonly error?: string;
  /**
   * Processes that exited without the harness asking them to, as
   * `name (exit code or signal)`. The harness restarts them (as Kubernetes
   * would), so they do not fail the scenario by themselves; their logs are kept.
   */
  readonly unexpectedExits: readonly string[];
  readonly durationMs: number;
  /** Directory kept with the logs of a failed scenario, or of one where a process exited unasked. */
  readonly keptDir?: string;
}

/** What to run: the store, the faults (in order) or how many random ones. */
export interface ScenarioPlan {
  readonly seed: number;
  /** Faults to inject in this order; random exact faults of the store when omitted. */
  readonly faults?: readonly FaultKind[];
  readonly faultCount?: number;
  /** `sqlite` (the default): one aggregator. `postgres`: replicas sharing a database. */
  readonly store?: ChaosStore["kind"];
  /** Aggregator replicas on PostgreSQL, 2 or 3; drawn from the seed when omitted. */
  readonly replicas?: number;
}

/**
 * Runs one seeded scenario: start the world, let rows flow, inject the faults
 * one after another with rows flowing in between, then stop writing, heal,
 * wait until every committed offset equals its file's size, and compare every
 * log_host_job_count series of every aggregator (each replica's own
 * /metrics) with the ground truth. It fails on any duplicate, or on more lost
 * rows than its copytruncate windows held, on any aggregator.
 */
export async function runScenario(plan: ScenarioPlan): Promise<ScenarioResult> {
  const started = Date.now();
  const random = seededRandom(plan.seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logtally-chaos-${plan.seed}-`));
  const { faults, store } = plan.store === "postgres" ? planPostgres(plan, random) : planSqlite(plan, random);
  const lossy = faults.includes("copytruncate");
  const world = new ChaosWorld(dir, random, store);
  let error: string | undefined;
  let counts = { lost: 0, duplicated: 0, unexpectedSeries: 0, rowsWritten: 0, rowsCounted: 0 };
  try {
    await world.start({ lateSharedSidecar: faults.includes("shared_join_late") });
    world.startWriting();
    for (const fault of faults) {
      await pause(200 + random() * 800);
      // One replica's crash must not stop the others' counting: it is on
      // record (unexpectedExits) and restarted, as Kubernetes would.
      if (store.kind === "postgres") await world.restartExited();
      await inject(world, fault);
    }
    await pause(200 + random() * 500);
    await world.stopWriting();
    await world.heal();
    await world.settle();
    const { counted, truth } = await world.compare();
    const wrong: string[] = [];
    for (const [index, { aggregator, counts: itsCounts }] of counted.entries()) {
      const tallied = tally(itsCounts, truth);
      // With replicas, the figures of the one furthest from the truth: each must show it.
      if (index === 0 || distance(tallied) > distance(counts)) counts = tallied;
      if (tallied.duplicated > 0 || tallied.unexpectedSeries > 0 || tallied.lost > world.rowsInCopytruncateWindows) {
        wrong.push(
          `${aggregator}: lost ${tallied.lost} (at most ${world.rowsInCopytruncateWindows} may be), ` +
            `duplicated ${tallied.duplicated}, unexpected series ${tallied.unexpectedSeries}`,
        );
      }
    }
    if (wrong.length > 0) error = `counts differ from the truth: ${wrong.join("; ")}`;
    const leaked = world.aggregators.leakedPassword();
    if (!error && leaked.length > 0) error = `the database password is in the logs of ${leaked.join(", ")}`;
  } catch (caught) {
    error = (caught as Error).stack ?? String(caught);
  } finally {
    await world.close();
  }
  let keptDir: string | undefined;
  const unexpectedExits = [...world.processes.unexpectedExits];
  if (error || unexpectedExits.length > 0) {
    fs.writeFileSync(path.join(dir, "processes.log"), world.dump());
    if (world.aggregators.databaseLog) fs.writeFileSync(path.join(dir, "postgres.log"), world.aggregators.databaseLog);
    keptDir = dir;
  } else {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    seed: plan.seed,
    store,
    faults,
    ...counts,
    lossBound: world.rowsInCopytruncateWindows,
    lossy,
    ok: error === undefined,
    error,
    unexpectedExits,
    durationMs: Date.now() - started,
    keptDir,
  };
}

/** Today's draws, unchanged: the faults when not given, nothing else. */
function planSqlite(plan: ScenarioPlan, random: () => number): { faults: FaultKind[]; store: ChaosStore } {
  const pool = exactFaults("sqlite");
  const faults = plan.faults ? [...plan.faults] : Array.from({ length: plan.faultCount ?? 4 }, () => pool[Math.floor(random() * pool.length)]!);
  return { faults, store: { kind: "sqlite" } };
}

/**
 * The faults and the replica count, each drawn whether given or not: a
 * replay given both (what formatResult prints) then runs on the same random
 * numbers as the scenario it replays.
 */
function planPostgres(plan: ScenarioPlan, random: () => number): { faults: FaultKind[]; store: ChaosStore } {
  const pool = exactFaults("postgres");
  const drawn = Array.from({ length: plan.faults?.length ?? plan.faultCount ?? 4 }, () => pool[Math.floor(random() * pool.length)]!);
  const replicas = 2 + Math.floor(random() * 2);
  return { faults: plan.faults ? [...plan.faults] : drawn, store: { kind: "postgres", replicas: plan.replicas ?? replicas } };
}

type Tally = ReturnType<typeof tally>;

/** How far a tally is from the truth. */
const distance = (tallied: Tally): number => tallied.lost + tallied.duplicated;

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

/** The store as a run line and the table show it: `sqlite`, `postgres×3`. */
export function describeStore(store: ChaosStore): string {
  return store.kind === "postgres" ? `postgres×${store.replicas}` : "sqlite";
}

/** The command that replays a scenario. */
export function replayCommand(result: ScenarioResult): string {
  const store = result.store.kind === "postgres" ? `--store postgres --replicas ${result.store.replicas} ` : "";
  return `npm run chaos -- ${store}--seed ${result.seed} --runs 1 --faults ${result.faults.join(",")}`;
}

/** One summary line for a scenario. */
export function formatResult(index: number, result: ScenarioResult): string {
  const verdict = result.ok ? "ok" : "FAILED";
  return (
    `run ${String(index).padStart(3)} seed ${result.seed} ${verdict} ${describeStore(result.store)} ` +
    `written ${result.rowsWritten} counted ${result.rowsCounted} lost ${result.lost}${result.lossy ? ` (at most ${result.lossBound})` : ""} duplicated ${result.duplicated} ` +
    `${(result.durationMs / 1000).toFixed(1)}s faults ${result.faults.join(",")}` +
    (result.unexpectedExits.length > 0 ? `\n    exited unasked: ${result.unexpectedExits.join(", ")}${result.ok ? `\n    logs: ${result.keptDir}` : ""}` : "") +
    (result.ok ? "" : `\n    replay: ${replayCommand(result)}\n    logs: ${result.keptDir}\n    ${result.error}`)
  );
}

import { parseArgs } from "node:util";
import { postgresUnavailable } from "@logtally/testing";
import { EXACT_FAULTS, faultsOf, LOSSY_FAULTS, POSTGRES_EXACT_FAULTS, SQLITE_ONLY_FAULTS, type FaultKind } from "./fault-kinds";
import { describeStore, formatResult, runScenario, type ScenarioPlan, type ScenarioResult } from "./scenario";

const USAGE = `Usage: npm run chaos -- [--runs N] [--seed S] [--faults-per-run K] [--faults a,b,c] [--copytruncate-runs M]
                       [--store sqlite|postgres] [--replicas 2|3]

Runs N seeded scenarios (seeds S, S+1, ...) of the real aggregator and sidecars with
K random faults each, then M scenarios with copytruncate (which may lose the rows
written inside their windows, and no more). Prints a line per run and a final table;
exits 1 if any run failed.
--faults runs the given faults in order instead of random ones.
--store sqlite (the default) runs one aggregator on its embedded SQLite state.
--store postgres runs aggregator replicas sharing a throwaway PostgreSQL server,
  each behind its own fault proxy, the sidecars connecting through a round-robin
  proxy (a Service) in front of them; every replica must show the truth at the end.
--replicas 2|3 (postgres only): how many replicas; drawn from each seed when omitted.

Fault kinds (sqlite): ${[...EXACT_FAULTS, ...LOSSY_FAULTS].join(", ")}
Fault kinds (postgres): ${[...POSTGRES_EXACT_FAULTS, ...LOSSY_FAULTS].join(", ")}
  On postgres kill_aggregator and stop_aggregator hit a random replica, the network_*
  faults every replica's proxy or a random one's; ${SQLITE_ONLY_FAULTS.join(" and ")} are sqlite only.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "20" },
      seed: { type: "string", default: String(Date.now() % 1_000_000) },
      "faults-per-run": { type: "string", default: "4" },
      faults: { type: "string" },
      "copytruncate-runs": { type: "string", default: "0" },
      store: { type: "string", default: "sqlite" },
      replicas: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(values.runs);
  const seed = Number(values.seed);
  const faultsPerRun = Number(values["faults-per-run"]);
  const copytruncateRuns = Number(values["copytruncate-runs"]);
  const store = values.store;
  if (store !== "sqlite" && store !== "postgres") {
    console.error(`--store must be sqlite or postgres, not ${store}`);
    return 2;
  }
  const replicas = values.replicas === undefined ? undefined : Number(values.replicas);
  if (replicas !== undefined && (store !== "postgres" || (replicas !== 2 && replicas !== 3))) {
    console.error(store === "postgres" ? `--replicas must be 2 or 3, not ${values.replicas}` : "--replicas needs --store postgres");
    return 2;
  }
  const known = new Set<string>(faultsOf(store));
  const forced = values.faults?.split(",").filter(Boolean) as FaultKind[] | undefined;
  const unknown = forced?.filter((fault) => !known.has(fault));
  if (![runs, seed, faultsPerRun, copytruncateRuns].every(Number.isSafeInteger) || unknown?.length) {
    console.error(unknown?.length ? `unknown faults on the ${store} store: ${unknown.join(", ")}` : USAGE);
    return 2;
  }
  const unavailable = store === "postgres" ? postgresUnavailable() : undefined;
  if (unavailable) {
    console.error(`--store postgres: ${unavailable}`);
    return 2;
  }
  const storeText = store === "postgres" ? `, store postgres with ${replicas ?? "2 or 3"} replicas` : "";
  console.log(`chaos: ${runs} runs from seed ${seed}, ${forced ? forced.join(",") : `${faultsPerRun} random faults each`}${storeText}`);
  const results: ScenarioResult[] = [];
  for (let index = 0; index < runs + copytruncateRuns; index++) {
    const plan: ScenarioPlan =
      index < runs
        ? { seed: seed + index, faults: forced, faultCount: faultsPerRun, store, replicas }
        : { seed: seed + index, faults: ["copytruncate", "copytruncate"] as FaultKind[], store, replicas };
    const result = await runScenario(plan);
    results.push(result);
    console.log(formatResult(index + 1, result));
  }
  console.log(summaryTable(results));
  return results.every((result) => result.ok) ? 0 : 1;
}

/** The final table: store, runs, durations, faults by kind, rows, lost and duplicated (exact and copytruncate runs apart). */
export function summaryTable(results: readonly ScenarioResult[]): string {
  const lines: string[] = [];
  const sum = (list: readonly ScenarioResult[], key: "rowsWritten" | "rowsCounted" | "lost" | "lossBound" | "duplicated"): number =>
    list.reduce((total, result) => total + result[key], 0);
  for (const [title, list] of [
    ["exact scenarios", results.filter((result) => !result.lossy)],
    ["copytruncate scenarios (loss bounded)", results.filter((result) => result.lossy)],
  ] as const) {
    if (list.length === 0) continue;
    lines.push(`\n${title}`);
    const byStore = new Map<string, number>();
    for (const result of list) byStore.set(describeStore(result.store), (byStore.get(describeStore(result.store)) ?? 0) + 1);
    lines.push(`  store             ${[...byStore].map(([store, count]) => `${store}: ${count} runs`).join(", ")}`);
    lines.push(
      `  runs              ${list.length} (${list.filter((result) => result.ok).length} passed, ${list.filter((result) => !result.ok).length} failed)`,
    );
    const seconds = list.map((result) => result.durationMs / 1000);
    lines.push(
      `  duration          mean ${(seconds.reduce((total, value) => total + value, 0) / seconds.length).toFixed(1)}s, ` +
        `min ${Math.min(...seconds).toFixed(1)}s, max ${Math.max(...seconds).toFixed(1)}s`,
    );
    lines.push(`  rows written      ${sum(list, "rowsWritten")}`);
    lines.push(`  rows counted      ${sum(list, "rowsCounted")}`);
    lines.push(`  lost              ${sum(list, "lost")}`);
    if (list.some((result) => result.lossy)) lines.push(`  lost at most      ${sum(list, "lossBound")}`);
    lines.push(`  duplicated        ${sum(list, "duplicated")}`);
    const exits = list.filter((result) => result.unexpectedExits.length > 0);
    lines.push(
      `  exited unasked    ${exits.reduce((total, result) => total + result.unexpectedExits.length, 0)} processes` +
        (exits.length > 0 ? ` (seeds ${exits.map((result) => result.seed).join(", ")})` : ""),
    );
    const byKind = new Map<string, number>();
    for (const result of list) for (const fault of result.faults) byKind.set(fault, (byKind.get(fault) ?? 0) + 1);
    lines.push("  faults injected");
    for (const [kind, count] of [...byKind].sort()) lines.push(`    ${kind.padEnd(28)} ${count}`);
  }
  const failed = results.filter((result) => !result.ok);
  if (failed.length > 0) lines.push(`\nfailed seeds: ${failed.map((result) => result.seed).join(", ")}`);
  return lines.join("\n");
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

import { parseArgs } from "node:util";
import { EXACT_FAULTS, LOSSY_FAULTS, type FaultKind } from "./faults";
import { formatResult, runScenario, type ScenarioResult } from "./scenario";

const USAGE = `Usage: npm run chaos -- [--runs N] [--seed S] [--faults-per-run K] [--faults a,b,c] [--copytruncate-runs M]

Runs N seeded scenarios (seeds S, S+1, ...) of the real aggregator and sidecars with
K random faults each, then M scenarios with copytruncate (which may lose the rows
written inside their windows, and no more). Prints a line per run and a final table;
exits 1 if any run failed.
--faults runs the given faults in order instead of random ones.
Fault kinds: ${[...EXACT_FAULTS, ...LOSSY_FAULTS].join(", ")}`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "20" },
      seed: { type: "string", default: String(Date.now() % 1_000_000) },
      "faults-per-run": { type: "string", default: "4" },
      faults: { type: "string" },
      "copytruncate-runs": { type: "string", default: "0" },
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
  const known = new Set<string>([...EXACT_FAULTS, ...LOSSY_FAULTS]);
  const forced = values.faults?.split(",").filter(Boolean) as FaultKind[] | undefined;
  const unknown = forced?.filter((fault) => !known.has(fault));
  if (![runs, seed, faultsPerRun, copytruncateRuns].every(Number.isSafeInteger) || unknown?.length) {
    console.error(unknown?.length ? `unknown faults: ${unknown.join(", ")}` : USAGE);
    return 2;
  }
  console.log(`chaos: ${runs} runs from seed ${seed}, ${forced ? forced.join(",") : `${faultsPerRun} random faults each`}`);
  const results: ScenarioResult[] = [];
  for (let index = 0; index < runs + copytruncateRuns; index++) {
    const plan =
      index < runs
        ? { seed: seed + index, faults: forced, faultCount: faultsPerRun }
        : { seed: seed + index, faults: ["copytruncate", "copytruncate"] as FaultKind[] };
    const result = await runScenario(plan);
    results.push(result);
    console.log(formatResult(index + 1, result));
  }
  console.log(summaryTable(results));
  return results.every((result) => result.ok) ? 0 : 1;
}

/** The final table: runs, faults by kind, rows, lost and duplicated (exact and copytruncate runs apart). */
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
    lines.push(
      `  runs              ${list.length} (${list.filter((result) => result.ok).length} passed, ${list.filter((result) => !result.ok).length} failed)`,
    );
    lines.push(`  rows written      ${sum(list, "rowsWritten")}`);
    lines.push(`  rows counted      ${sum(list, "rowsCounted")}`);
    lines.push(`  lost              ${sum(list, "lost")}`);
    if (list.some((result) => result.lossy)) lines.push(`  lost at most      ${sum(list, "lossBound")}`);
    lines.push(`  duplicated        ${sum(list, "duplicated")}`);
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

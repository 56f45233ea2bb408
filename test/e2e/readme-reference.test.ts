import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { AGGREGATOR_FLAGS } from "@logtally/aggregator";
import { INJECT_FLAGS, WEBHOOK_FLAGS } from "@logtally/injector";
import type { FlagSpec } from "@logtally/runtime";
import { SIDECAR_FLAGS } from "@logtally/sidecar";
import { REPO_ROOT } from "@logtally/testing";

/**
 * The README's reference tables against the programs' own flag
 * declarations, the one source of truth: every flag in exactly one row, with
 * its environment variable and default; no row for a flag that is not there.
 */

interface Row {
  readonly flags: readonly string[];
  readonly envs: readonly string[];
  /** The default cell as written: `value`, or words ("off", what is used instead) for none. */
  readonly defaultCell: string;
}

/** The rows of the first table after the heading `### \`title\``. */
function tableAfter(readme: string, title: string): Row[] {
  const start = readme.indexOf(`\n### \`${title}\`\n`);
  assert.ok(start >= 0, `README has a section ### \`${title}\``);
  const lines = readme.slice(start).split("\n").slice(2);
  const table = lines.slice(lines.findIndex((line) => line.startsWith("|")));
  const rows = table.slice(
    2,
    table.findIndex((line) => !line.startsWith("|")),
  );
  return rows.map((line) => {
    const [flagCell, envCell, defaultCell] = line
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim());
    const codes = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
    return { flags: codes(flagCell!).map((flag) => flag.replace(/^--/, "")), envs: codes(envCell!), defaultCell: defaultCell! };
  });
}

function checkTable(title: string, specs: ReadonlyArray<FlagSpec>): void {
  const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
  const rows = tableAfter(readme, title);
  const documented = rows.flatMap((row) => row.flags);
  assert.deepEqual([...documented].sort(), specs.map((spec) => spec.name).sort(), `${title}: the README lists each flag once`);
  for (const row of rows) {
    for (const [index, name] of row.flags.entries()) {
      const spec = specs.find((candidate) => candidate.name === name)!;
      if (spec.switch) {
        assert.deepEqual(row.envs, [], `--${name} is a switch: no environment variable`);
        continue;
      }
      assert.equal(row.envs[index], spec.env, `--${name}: environment variable`);
      if (spec.default !== undefined) assert.equal(row.defaultCell, `\`${spec.default}\``, `--${name}: default`);
      else assert.doesNotMatch(row.defaultCell, /^`[^`]*`$/, `--${name} has no default, yet the README names one`);
    }
  }
}

describe("README reference tables", () => {
  it("logtally-aggregator", () => checkTable("logtally-aggregator", AGGREGATOR_FLAGS));
  it("logtally-sidecar", () => checkTable("logtally-sidecar", SIDECAR_FLAGS));
  it("logtally-injector inject", () => checkTable("logtally-injector inject", INJECT_FLAGS));
  it("logtally-injector webhook", () => checkTable("logtally-injector webhook", WEBHOOK_FLAGS));
});

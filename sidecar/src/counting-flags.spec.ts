import { test } from "node:test";
import * as assert from "node:assert/strict";
import { MAX_LABELS } from "@logtally/proto";
import { ConfigError } from "@logtally/runtime";
import { SIDECAR_HELP, parseSidecarConfig, type SidecarConfig } from "./config";
import { DEFAULT_RULES } from "./parse/counting-rules";

function counting(argv: string[], env: NodeJS.ProcessEnv = {}): SidecarConfig["counting"] {
  const config = parseSidecarConfig(argv, env);
  assert.notEqual(config, "help");
  return (config as SidecarConfig).counting;
}

/** Asserts one ConfigError line that names `flag` and matches `why`. */
function assertRefused(argv: string[], flag: string, why: RegExp, env: NodeJS.ProcessEnv = {}): void {
  assert.throws(
    () => parseSidecarConfig(argv, env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      assert.ok(error.message.startsWith(flag), `${JSON.stringify(error.message)} names ${flag}`);
      assert.match(error.message, why);
      assert.ok(!error.message.includes("\n"), "one line");
      return true;
    },
  );
}

test("no counting flag gives the default rules, whose spec is the default", () => {
  assert.deepEqual(counting([]), DEFAULT_RULES);
  assert.deepEqual(counting(["--metric", "log_host_job_count", "--label", "host=1", "--label", "job_name=2"]), DEFAULT_RULES);
});

test("jsonl without --label reads .host and .job_name", () => {
  const rules = counting(["--format", "jsonl"]);
  assert.deepEqual(rules.spec, DEFAULT_RULES.spec);
  assert.deepEqual(rules.labelFields, [
    { kind: "path", keys: ["host"] },
    { kind: "path", keys: ["job_name"] },
  ]);
});

test("a tab delimiter is given as tab or as the character itself", () => {
  assert.deepEqual(counting(["--delimiter", "tab"]).format, { kind: "csv", delimiter: 0x09 });
  assert.deepEqual(counting([], { LOGTALLY_DELIMITER: "\t" }).format, { kind: "csv", delimiter: 0x09 });
});

test("each bad counting flag stops the sidecar with one line naming the flag", () => {
  assertRefused(["--format", "xml"], "--format", /expected csv or jsonl/);
  assertRefused(["--delimiter", ";;"], "--delimiter", /one character/);
  assertRefused(["--delimiter", '"'], "--delimiter", /cannot separate fields/);
  assertRefused(["--delimiter", "é"], "--delimiter", /cannot separate fields/);
  assertRefused(["--format", "jsonl", "--delimiter", ";"], "--delimiter", /csv only/);
  assertRefused(["--metric", "logtally_rows"], "--metric", /logtally_/);
  assertRefused(["--metric", "http-requests"], "--metric", /not a Prometheus metric name/);
  assertRefused(["--metric", "requests_total"], "--metric", /ends with _total/);
  assertRefused(["--metric", "m", "--label", "le-vel=1"], "--label", /not a Prometheus label name/);
  assertRefused(["--metric", "m", "--label", "__x=1"], "--label", /starts with __/);
  assertRefused(["--metric", "m", "--label", "a=1", "--label", "a=2"], "--label", /a is given twice/);
  assertRefused(["--metric", "m", "--label", "a"], "--label", /expected NAME=FIELD/);
  assertRefused(["--metric", "m", "--label", "a=.x"], "--label", /JSON path, which only --format jsonl reads/);
  assertRefused(["--metric", "m", "--label", "a=0"], "--label", /numbered from 1/);
  assertRefused(["--metric", "m", "--format", "jsonl", "--label", "a=app"], "--label", /not a JSON path/);
  assertRefused(["--metric", "m", "--format", "jsonl", "--label", "a=3"], "--label", /not a JSON path/);
  assertRefused(["--metric", "m", "--format", "jsonl", "--label", "a=.x..y"], "--label", /empty key/);
  assertRefused(["--label", "host=1"], "--label", /log_host_job_count is counted with the labels host, job_name/);
  const many = Array.from({ length: MAX_LABELS + 1 }, (_, index) => ["--label", `l${index}=${index + 1}`]).flat();
  assertRefused(["--metric", "m", ...many], "--label", /17 labels, more than the 16/);
  assertRefused(["--where", "level=~("], "--where", /not a regular expression/);
  assertRefused(["--where", "level"], "--where", /expected FIELD=VALUE or FIELD=~REGEX/);
  assertRefused(["--where", ".level=x"], "--where", /JSON path/);
});

test("a bad value from a variable names the variable", () => {
  assertRefused([], "LOGTALLY_METRIC (--metric)", /logtally_/, { LOGTALLY_METRIC: "logtally_x" });
  assertRefused([], "LOGTALLY_LABELS (--label)", /numbered from 1/, { LOGTALLY_METRIC: "m", LOGTALLY_LABELS: "a=0" });
  assertRefused([], "LOGTALLY_WHERE (--where)", /not a regular expression/, { LOGTALLY_WHERE: "a=~[" });
});

test("--where keeps each condition in order; a regex matches the whole value", () => {
  const rules = counting(["--where", "level=error", "--where", "3=~5..|429"]);
  assert.equal(rules.where.length, 2);
  const regex = rules.where[1]!.match;
  assert.ok(regex.kind === "regex");
  assert.ok(regex.regex.test("503") && regex.regex.test("429"));
  assert.ok(!regex.regex.test("4290") && !regex.regex.test("x503"));
});

test("the help lists the counting flags and their variables", () => {
  for (const line of [
    "--format <value>   [LOGTALLY_FORMAT] (default: csv)",
    "--delimiter <value>   [LOGTALLY_DELIMITER] (default: ,)",
    "--label <value>   [LOGTALLY_LABELS]",
    "--where <value>   [LOGTALLY_WHERE]",
    "--metric <value>   [LOGTALLY_METRIC] (default: log_host_job_count)",
  ]) {
    assert.ok(SIDECAR_HELP.includes(line), line);
  }
  assert.match(SIDECAR_HELP, /LOGTALLY_WHERE takes the entries separated by newlines/);
  assert.match(SIDECAR_HELP, /LOGTALLY_LABELS takes the entries separated by commas/);
});

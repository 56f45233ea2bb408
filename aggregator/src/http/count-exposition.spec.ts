import assert from "node:assert/strict";
import { test } from "node:test";
import { Gauge, Registry } from "prom-client";
import { COUNT_METRIC_HELP, COUNT_METRIC_NAME, CountExposition, escapeLabelValue } from "./count-exposition";
import type { PairCount } from "../store/count-view";

const PAIRS: PairCount[] = [
  { host: "web-1", jobName: "backup", count: 3 },
  { host: 'say "hi"', jobName: "back\\slash", count: 1 },
  { host: "multi\nline", jobName: "ünïcødé ✓", count: 9_007_199_254_740_991 },
  { host: "db-1", jobName: "cron daily", count: 0 },
];

/** The same series rendered by prom-client, the reference for the text format. */
async function renderedByPromClient(pairs: readonly PairCount[]): Promise<string> {
  const registry = new Registry();
  const gauge = new Gauge({ name: COUNT_METRIC_NAME, help: COUNT_METRIC_HELP, labelNames: ["host", "job_name"], registers: [registry] });
  for (const pair of pairs) gauge.set({ host: pair.host, job_name: pair.jobName }, pair.count);
  return registry.metrics();
}

test("renders exactly what prom-client renders for the same series", async () => {
  assert.equal(new CountExposition().render(PAIRS).toString(), await renderedByPromClient(PAIRS));
});

test("no series still renders the family's help and type", async () => {
  assert.equal(new CountExposition().render([]).toString(), `# HELP ${COUNT_METRIC_NAME} ${COUNT_METRIC_HELP}\n# TYPE ${COUNT_METRIC_NAME} gauge\n`);
});

test("a later scrape shows the counts as they are then, for old and new series", async () => {
  const exposition = new CountExposition();
  const pairs = PAIRS.map((pair) => ({ ...pair }));
  exposition.render(pairs);
  pairs[0]!.count += 5;
  pairs.push({ host: "web-2", jobName: "backup", count: 2 });
  assert.equal(exposition.render(pairs).toString(), await renderedByPromClient(pairs));
});

test("counts of every length are written in decimal", async () => {
  const counts = [0, 1, 9, 10, 99, 100, 101, 123_456_789, 1e15, 2 ** 53 - 1];
  const pairs = counts.map((count, index) => ({ host: `h${index}`, jobName: "j", count }));
  assert.equal(new CountExposition().render(pairs).toString(), await renderedByPromClient(pairs));
});

test("label values are escaped as the text format requires", () => {
  assert.equal(escapeLabelValue("plain value"), "plain value");
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { Counter, Gauge, Registry } from "prom-client";
import { DEFAULT_METRIC } from "@logtally/proto";
import { COUNT_METRIC_HELP, COUNT_METRIC_NAME, CountExposition, escapeLabelValue } from "./count-exposition";
import { DEFAULT_METRIC_DEFINITION, type MetricDefinition } from "../ingest/metric-registration";
import type { MetricCounts, SeriesCount } from "../store/count-view";

interface PairCount {
  host: string;
  jobName: string;
  count: number;
}

const PAIRS: PairCount[] = [
  { host: "web-1", jobName: "backup", count: 3 },
  { host: 'say "hi"', jobName: "back\\slash", count: 1 },
  { host: "multi\nline", jobName: "ünïcødé ✓", count: 9_007_199_254_740_991 },
  { host: "db-1", jobName: "cron daily", count: 0 },
];

const REQUESTS: MetricDefinition = { name: "http_requests", labelNames: ["method", "path"], kind: "counter" };

/** log_host_job_count holding `pairs`, as the view lists it. */
function pairMetric(pairs: readonly PairCount[]): MetricCounts {
  const series = pairs.map(({ host, jobName, count }) => ({ metric: DEFAULT_METRIC, labels: [host, jobName], count }));
  return { definition: DEFAULT_METRIC_DEFINITION, series, rows: 0 };
}

/** The same series rendered by prom-client, the reference for the text format. */
async function renderedByPromClient(pairs: readonly PairCount[]): Promise<string> {
  const registry = new Registry();
  const gauge = new Gauge({ name: COUNT_METRIC_NAME, help: COUNT_METRIC_HELP, labelNames: ["host", "job_name"], registers: [registry] });
  for (const pair of pairs) gauge.set({ host: pair.host, job_name: pair.jobName }, pair.count);
  return registry.metrics();
}

test("renders exactly what prom-client renders for the same series", async () => {
  assert.equal(new CountExposition().render([pairMetric(PAIRS)]).toString(), await renderedByPromClient(PAIRS));
});

test("no series still renders the family's help and type", async () => {
  assert.equal(
    new CountExposition().render([pairMetric([])]).toString(),
    `# HELP ${COUNT_METRIC_NAME} ${COUNT_METRIC_HELP}\n# TYPE ${COUNT_METRIC_NAME} gauge\n`,
  );
});

test("a later scrape shows the counts as they are then, for old and new series", async () => {
  const exposition = new CountExposition();
  const pairs = PAIRS.map((pair) => ({ ...pair }));
  const metric = pairMetric(pairs);
  exposition.render([metric]);
  (metric.series[0] as SeriesCount).count += 5;
  pairs[0]!.count += 5;
  pairs.push({ host: "web-2", jobName: "backup", count: 2 });
  (metric.series as SeriesCount[]).push({ metric: DEFAULT_METRIC, labels: ["web-2", "backup"], count: 2 });
  assert.equal(exposition.render([metric]).toString(), await renderedByPromClient(pairs));
});

test("counts of every length are written in decimal", async () => {
  const counts = [0, 1, 9, 10, 99, 100, 101, 123_456_789, 1e15, 2 ** 53 - 1];
  const pairs = counts.map((count, index) => ({ host: `h${index}`, jobName: "j", count }));
  assert.equal(new CountExposition().render([pairMetric(pairs)]).toString(), await renderedByPromClient(pairs));
});

test("another metric is a counter named metric_total with its label names, after log_host_job_count", async () => {
  const series: SeriesCount[] = [
    { metric: "http_requests", labels: ["GET", "/a"], count: 7 },
    { metric: "http_requests", labels: ['PO"ST', "/b\\c\nd"], count: 1 },
  ];
  const boots: MetricCounts = { definition: { name: "boots", labelNames: [], kind: "counter" }, series: [{ metric: "boots", labels: [], count: 4 }], rows: 4 };
  const exposition = new CountExposition();
  exposition.prepare(series, () => REQUESTS);
  const text = exposition.render([pairMetric(PAIRS.slice(0, 1)), { definition: REQUESTS, series, rows: 8 }, boots]).toString();

  const registry = new Registry();
  const help = exposition
    .render([{ definition: REQUESTS, series: [], rows: 0 }])
    .toString()
    .split("\n")[0]!
    .replace("# HELP http_requests_total ", "");
  const counter = new Counter({ name: "http_requests_total", help, labelNames: ["method", "path"], registers: [registry] });
  for (const one of series) counter.inc({ method: one.labels[0]!, path: one.labels[1]! }, one.count);
  const bootsRegistry = new Registry();
  new Counter({ name: "boots_total", help: "Rows counted, since the state was created.", registers: [bootsRegistry] }).inc(4);
  assert.equal(text, (await renderedByPromClient(PAIRS.slice(0, 1))) + (await registry.metrics()) + (await bootsRegistry.metrics()));
  assert.match(help, /^Rows counted per method, path/);
});

test("label values are escaped as the text format requires", () => {
  assert.equal(escapeLabelValue("plain value"), "plain value");
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

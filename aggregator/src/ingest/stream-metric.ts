import { DEFAULT_METRIC, checkCountingSpec, sameLabelNames, type CountingSpec, type Delta__Output, type Hello__Output } from "@logtally/proto";
import type { SeriesDelta } from "./series-limit";

/**
 * What one ingest stream counts, fixed by its first Hello: a spec (its
 * deltas name series by `labels`), or none (log_host_job_count, its deltas
 * naming host and job_name, as every sidecar before counting specs sent).
 */
export type StreamMetric = { readonly spec: CountingSpec } | { readonly spec: undefined };

/** The stream metric a Hello asks for, or the problem with its spec (a message for the sender). */
export function streamMetricOf(hello: Hello__Output): StreamMetric | { readonly problem: string } {
  if (!hello.spec) return { spec: undefined };
  const spec: CountingSpec = { metric: hello.spec.metric, labelNames: hello.spec.labelNames };
  const problem = checkCountingSpec(spec);
  return problem ? { problem: `counting spec refused: ${problem}` } : { spec };
}

/** Whether two Hellos of one stream count the same thing. */
export function sameStreamMetric(a: StreamMetric, b: StreamMetric): boolean {
  if (!a.spec || !b.spec) return a.spec === b.spec;
  return a.spec.metric === b.spec.metric && sameLabelNames(a.spec.labelNames, b.spec.labelNames);
}

/** How a stream metric is named in messages. */
export function describeStreamMetric(metric: StreamMetric): string {
  return metric.spec ? `${metric.spec.metric}{${metric.spec.labelNames.join(", ")}}` : `${DEFAULT_METRIC} (no spec)`;
}

/** A validated batch's deltas (see validateBatch) as the series of the stream's metric they count. */
export function seriesDeltas(deltas: readonly Delta__Output[], metric: StreamMetric): SeriesDelta[] {
  const { spec } = metric;
  if (!spec) return deltas.map((delta) => ({ metric: DEFAULT_METRIC, labels: [delta.host, delta.jobName], count: delta.count }));
  return deltas.map((delta) => ({ metric: spec.metric, labels: delta.labels, count: delta.count }));
}

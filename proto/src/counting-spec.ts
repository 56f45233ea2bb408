/**
 * What a sidecar counts: a metric, and the labels whose distinct values make
 * its series. The rules for the names are Prometheus's, checked alike by the
 * sidecar (at start, naming the flag) and the aggregator (at Hello).
 */
export interface CountingSpec {
  readonly metric: string;
  readonly labelNames: readonly string[];
}

/** The metric counted without a spec: `log_host_job_count{host, job_name}`, a gauge by that name. */
export const DEFAULT_METRIC = "log_host_job_count";
export const DEFAULT_LABEL_NAMES: readonly string[] = Object.freeze(["host", "job_name"]);
export const DEFAULT_SPEC: CountingSpec = Object.freeze({ metric: DEFAULT_METRIC, labelNames: DEFAULT_LABEL_NAMES });

/** Metric names logtally's own metrics use. */
export const RESERVED_METRIC_PREFIX = "logtally_";
/** Labels one metric may have: series are counted in memory per distinct tuple. */
export const MAX_LABELS = 16;
/** Longest metric or label name. */
export const MAX_NAME_LENGTH = 200;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Whether `spec` is the default, which travels without a spec on the wire. */
export function isDefaultSpec(spec: CountingSpec): boolean {
  return spec.metric === DEFAULT_METRIC && sameLabelNames(spec.labelNames, DEFAULT_LABEL_NAMES);
}

export function sameLabelNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, index) => name === b[index]);
}

/** The sample name on /metrics: `metric_total` for a counter; the default metric keeps its name. */
export function exposedName(metric: string): string {
  return metric === DEFAULT_METRIC ? metric : `${metric}_total`;
}

/** A problem with the metric name, or undefined. */
export function checkMetricName(metric: string): string | undefined {
  if (metric.length === 0) return "the metric name is empty";
  if (metric.length > MAX_NAME_LENGTH) return `the metric name is longer than ${MAX_NAME_LENGTH} characters`;
  if (!METRIC_NAME.test(metric)) return `metric name ${JSON.stringify(metric)} is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`;
  if (metric.startsWith(RESERVED_METRIC_PREFIX)) return `metric name ${metric} starts with ${RESERVED_METRIC_PREFIX}, which logtally's own metrics use`;
  if (metric !== DEFAULT_METRIC && metric.endsWith("_total")) {
    return `metric name ${metric} ends with _total: give it without, it is exposed as ${metric.slice(0, -"_total".length)}_total`;
  }
  return undefined;
}

/** A problem with one label name, or undefined. */
export function checkLabelName(name: string): string | undefined {
  if (name.length === 0) return "a label name is empty";
  if (name.length > MAX_NAME_LENGTH) return `label name ${name.slice(0, 20)}… is longer than ${MAX_NAME_LENGTH} characters`;
  if (!LABEL_NAME.test(name)) return `label name ${JSON.stringify(name)} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)`;
  if (name.startsWith("__")) return `label name ${name} starts with __, which Prometheus reserves`;
  return undefined;
}

/** The first problem with `spec`'s names, or undefined when it is valid. */
export function checkCountingSpec(spec: CountingSpec): string | undefined {
  const metricProblem = checkMetricName(spec.metric);
  if (metricProblem) return metricProblem;
  if (spec.metric === DEFAULT_METRIC && !sameLabelNames(spec.labelNames, DEFAULT_LABEL_NAMES)) {
    return `${DEFAULT_METRIC} is counted with the labels ${DEFAULT_LABEL_NAMES.join(", ")}: give other labels another metric name`;
  }
  if (spec.labelNames.length > MAX_LABELS) return `${spec.labelNames.length} labels, more than the ${MAX_LABELS} a metric may have`;
  const seen = new Set<string>();
  for (const name of spec.labelNames) {
    const problem = checkLabelName(name);
    if (problem) return problem;
    if (seen.has(name)) return `label name ${name} is given twice`;
    seen.add(name);
  }
  return undefined;
}

import { status } from "@grpc/grpc-js";
import { DEFAULT_METRIC, checkLabel, checkLabelName, checkMetricName } from "@logtally/proto";
import { StatusError } from "../errors";

/** How a query selects one label: not at all, by exact value, or by prefix. */
export type LabelMatch = { readonly kind: "any" } | { readonly kind: "exact"; readonly value: string } | { readonly kind: "prefix"; readonly value: string };

/** Which series a query selects: those of one metric whose labels match. */
export interface CountFilter {
  readonly metric: string;
  /** By host_/job_name fields, which select in log_host_job_count only. */
  readonly host: LabelMatch;
  readonly jobName: LabelMatch;
  /** Exact values by label name, sorted by name: the request's labels map. */
  readonly labels: ReadonlyArray<readonly [name: string, value: string]>;
}

/** The filter fields GetCountsRequest and WatchCountsRequest share; empty means unset. */
export interface CountFilterFields {
  readonly host: string;
  readonly jobName: string;
  readonly hostPrefix: string;
  readonly jobNamePrefix: string;
  /** "" for log_host_job_count. */
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Reads the filter of a request. Throws an INVALID_ARGUMENT StatusError when
 * a value could never be a label or a name (so could never match), when one
 * label is given both exactly and as a prefix, and when host or job_name
 * fields are given for another metric than log_host_job_count (its labels map
 * selects by any label).
 */
export function parseCountFilter(fields: CountFilterFields): CountFilter {
  const metric = fields.metric === "" ? DEFAULT_METRIC : fields.metric;
  const metricProblem = checkMetricName(metric);
  if (metricProblem) throw new StatusError(status.INVALID_ARGUMENT, `metric filter: ${metricProblem}`);
  const host = labelMatch("host", fields.host, "host_prefix", fields.hostPrefix);
  const jobName = labelMatch("job_name", fields.jobName, "job_name_prefix", fields.jobNamePrefix);
  if (metric !== DEFAULT_METRIC && (host.kind !== "any" || jobName.kind !== "any")) {
    throw new StatusError(status.INVALID_ARGUMENT, `host, job_name and their prefixes select in ${DEFAULT_METRIC} only: select series of ${metric} by labels`);
  }
  const labels = Object.entries(fields.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, value] of labels) {
    const problem = checkLabelName(name) ?? checkLabel(value);
    if (problem) throw new StatusError(status.INVALID_ARGUMENT, `labels filter ${JSON.stringify(name.slice(0, 100))}: ${problem}`);
  }
  return { metric, host, jobName, labels };
}

function labelMatch(exactName: string, exact: string, prefixName: string, prefix: string): LabelMatch {
  if (exact !== "" && prefix !== "") {
    throw new StatusError(status.INVALID_ARGUMENT, `give ${exactName} or ${prefixName}, not both`);
  }
  for (const [name, value] of [
    [exactName, exact],
    [prefixName, prefix],
  ] as const) {
    const problem = value === "" ? undefined : checkLabel(value);
    if (problem) throw new StatusError(status.INVALID_ARGUMENT, `${name} filter is not a valid label: ${problem}`);
  }
  if (exact !== "") return { kind: "exact", value: exact };
  if (prefix !== "") return { kind: "prefix", value: prefix };
  return { kind: "any" };
}

/** True when `value` is selected by `match`. */
export function labelMatches(match: LabelMatch, value: string): boolean {
  switch (match.kind) {
    case "any":
      return true;
    case "exact":
      return value === match.value;
    case "prefix":
      return value.startsWith(match.value);
  }
}

/** A filter applied to its metric's label names: a match per label position. */
export interface SeriesSelection {
  readonly filter: CountFilter;
  /** The conditions by label position, every one of which must hold; the first label's first. */
  readonly conditions: ReadonlyArray<{ readonly index: number; readonly match: LabelMatch }>;
  /** True when a label the filter names is not one of the metric's: nothing is selected. */
  readonly none: boolean;
}

/** Applies `filter` to the label names of its metric (host, job_name for log_host_job_count). */
export function selectSeries(filter: CountFilter, labelNames: readonly string[]): SeriesSelection {
  const conditions: Array<{ index: number; match: LabelMatch }> = [];
  let none = false;
  const add = (name: string, match: LabelMatch): void => {
    if (match.kind === "any") return;
    const index = labelNames.indexOf(name);
    if (index < 0) none = true;
    else conditions.push({ index, match });
  };
  add("host", filter.host);
  add("job_name", filter.jobName);
  for (const [name, value] of filter.labels) add(name, { kind: "exact", value });
  conditions.sort((a, b) => a.index - b.index);
  return { filter, conditions, none };
}

/** True when the series' label values are selected. */
export function seriesMatches(selection: SeriesSelection, labels: readonly string[]): boolean {
  if (selection.none) return false;
  for (const { index, match } of selection.conditions) if (!labelMatches(match, labels[index]!)) return false;
  return true;
}

/**
 * A canonical text for the filter: equal filters, and only they, have equal
 * keys. A filter of log_host_job_count by host and job name alone keeps the
 * key it had before filters named a metric, so page tokens issued then stay valid.
 */
export function filterKey(filter: CountFilter): string {
  const part = (match: LabelMatch): [string, string] => [match.kind, match.kind === "any" ? "" : match.value];
  const pairFilter = [...part(filter.host), ...part(filter.jobName)];
  if (filter.metric === DEFAULT_METRIC && filter.labels.length === 0) return JSON.stringify(pairFilter);
  return JSON.stringify([filter.metric, ...pairFilter, filter.labels]);
}

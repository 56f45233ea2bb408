import { DEFAULT_LABEL_NAMES, DEFAULT_METRIC, sameLabelNames, type CountingSpec } from "@logtally/proto";

/** How a metric is exposed: log_host_job_count stays the gauge it always was; every other metric is a counter. */
export type MetricKind = "gauge" | "counter";

/**
 * A metric counted: its name, its label names (fixed by the first spec
 * counted under it, forever after) and its kind. Durable: stores keep one row
 * per metric, and never change or remove it.
 */
export interface MetricDefinition {
  readonly name: string;
  readonly labelNames: readonly string[];
  readonly kind: MetricKind;
}

/** log_host_job_count{host, job_name}: always there, counted from every stream without a spec. */
export const DEFAULT_METRIC_DEFINITION: MetricDefinition = Object.freeze({ name: DEFAULT_METRIC, labelNames: DEFAULT_LABEL_NAMES, kind: "gauge" });

/** What a store did with a spec (see Store.registerMetric). */
export type MetricRegistration =
  /** The metric was new: it is now counted with the spec's labels, durably. */
  | { readonly outcome: "registered"; readonly definition: MetricDefinition }
  /** The metric is counted with these very labels already. */
  | { readonly outcome: "known"; readonly definition: MetricDefinition }
  /** The metric is counted with other labels (`definition`): the spec is refused. */
  | { readonly outcome: "conflict"; readonly definition: MetricDefinition };

/**
 * Decides a spec (checked with checkCountingSpec) against the metric of its
 * name as committed, `existing` (undefined when there is none). Pure: each
 * store runs it where no other registration can come between the read and
 * the write (see SqliteStore and PostgresStore).
 */
export function decideRegistration(existing: MetricDefinition | undefined, spec: CountingSpec): MetricRegistration {
  if (!existing) return { outcome: "registered", definition: { name: spec.metric, labelNames: [...spec.labelNames], kind: "counter" } };
  return { outcome: sameLabelNames(existing.labelNames, spec.labelNames) ? "known" : "conflict", definition: existing };
}

/** The refusal of a spec whose label names differ from the metric's: what is registered, what was given, what to do. */
export function describeConflict(registered: MetricDefinition, spec: CountingSpec): string {
  return (
    `metric ${registered.name} is counted with the labels ${describeLabelNames(registered.labelNames)}, ` +
    `and this sidecar counts it with ${describeLabelNames(spec.labelNames)}: ` +
    `give this sidecar another --metric name, or the labels ${describeLabelNames(registered.labelNames)}`
  );
}

function describeLabelNames(names: readonly string[]): string {
  return names.length === 0 ? "(none)" : `(${names.join(", ")})`;
}

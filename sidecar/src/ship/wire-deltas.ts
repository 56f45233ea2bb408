import { isDefaultSpec, type CountingSpec, type CountingSpecMessage, type Delta } from "@logtally/proto";
import type { SeriesDelta } from "../batch/delta-batcher";

/**
 * The deltas of a batch as the wire carries them: by host and job_name for
 * the default spec, which travels without Hello.spec so that an aggregator
 * from before counting specs counts it; by labels for any other spec.
 */
export function wireDeltas(deltas: readonly SeriesDelta[], spec: CountingSpec): Delta[] {
  if (isDefaultSpec(spec)) return deltas.map(({ labels, count }) => ({ host: labels[0], jobName: labels[1], count }));
  return deltas.map(({ labels, count }) => ({ labels: labels as string[], count }));
}

/** Hello.spec for `spec`: absent for the default spec (see wireDeltas). */
export function wireSpec(spec: CountingSpec): CountingSpecMessage | undefined {
  return isDefaultSpec(spec) ? undefined : { metric: spec.metric, labelNames: [...spec.labelNames] };
}

/**
 * The series limit: once `maxSeries` series of a metric are counted, rows of
 * a series of that metric not counted yet are refused, while every existing
 * series keeps counting. Each metric has its own budget, so one sidecar
 * counting random labels into its metric cannot starve another metric.
 * Prometheus, and the aggregator's memory, grow with the number of series,
 * and a sidecar reading a file of random labels must not exhaust either.
 *
 * The decision is a pure function of the batch and of the committed state it
 * is applied to, and the store makes it inside the transaction that applies
 * the batch: counts, the refused rows (rejected as `series_limit`) and the
 * committed offset move together. A batch is therefore applied partially, its
 * existing series counted and its new series refused, and its range is done:
 * a resend of it is a duplicate and changes nothing, before or after a crash.
 */

/**
 * One series' rows in a batch: the metric, and its label values in the order
 * of the metric's label names (host, job_name for log_host_job_count).
 */
export interface SeriesDelta {
  readonly metric: string;
  readonly labels: readonly string[];
  readonly count: number;
}

/** Outcome of {@link splitBySeriesLimit}. */
export interface SeriesSplit<Delta extends SeriesDelta> {
  /** Deltas to count: series already counted, and new series while their metric had room. */
  readonly counted: Delta[];
  /** Deltas of new series beyond their metric's limit, not counted. */
  readonly refused: Delta[];
  /** Rows of `refused`. */
  readonly refusedRows: number;
}

/**
 * Splits a batch's deltas, in batch order, given whether each series is
 * counted already and how many series each metric has (`seriesCount`). New
 * series take the room left under `maxSeries` in their metric, in the order
 * they appear in the batch.
 */
export function splitBySeriesLimit<Delta extends SeriesDelta>(
  deltas: readonly Delta[],
  isCounted: (delta: Delta) => boolean,
  seriesCount: (metric: string) => number,
  maxSeries: number,
): SeriesSplit<Delta> {
  const counted: Delta[] = [];
  const refused: Delta[] = [];
  let refusedRows = 0;
  /** New series taken by this batch, by metric. */
  const taken = new Map<string, number>();
  for (const delta of deltas) {
    if (isCounted(delta)) {
      counted.push(delta);
      continue;
    }
    const alreadyTaken = taken.get(delta.metric) ?? 0;
    if (seriesCount(delta.metric) + alreadyTaken < maxSeries) {
      counted.push(delta);
      taken.set(delta.metric, alreadyTaken + 1);
    } else {
      refused.push(delta);
      refusedRows += delta.count;
    }
  }
  return { counted, refused, refusedRows };
}

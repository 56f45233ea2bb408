/**
 * The series limit: once `maxSeries` (host, job_name) pairs are counted, rows
 * of a pair not counted yet are refused, while every existing pair keeps
 * counting. Prometheus, and the aggregator's memory, grow with the number of
 * series, and a sidecar reading a file of random labels must not exhaust
 * either.
 *
 * The decision is a pure function of the batch and of the committed state it
 * is applied to, and the store makes it inside the transaction that applies
 * the batch: counts, the refused rows (rejected as `series_limit`) and the
 * committed offset move together. A batch is therefore applied partially, its
 * existing pairs counted and its new pairs refused, and its range is done: a
 * resend of it is a duplicate and changes nothing, before or after a crash.
 */

/** One pair's rows in a batch. */
export interface PairDelta {
  readonly host: string;
  readonly jobName: string;
  readonly count: number;
}

/** Outcome of {@link splitBySeriesLimit}. */
export interface SeriesSplit<Delta extends PairDelta> {
  /** Deltas to count: pairs already counted, and new pairs while there was room. */
  readonly counted: Delta[];
  /** Deltas of new pairs beyond the limit, not counted. */
  readonly refused: Delta[];
  /** Rows of `refused`. */
  readonly refusedRows: number;
}

/**
 * Splits a batch's deltas, in batch order, given whether each pair is counted
 * already and how many pairs are (`seriesCount`). New pairs take the room left
 * under `maxSeries` in the order they appear in the batch.
 */
export function splitBySeriesLimit<Delta extends PairDelta>(
  deltas: readonly Delta[],
  isCounted: (delta: Delta) => boolean,
  seriesCount: number,
  maxSeries: number,
): SeriesSplit<Delta> {
  const counted: Delta[] = [];
  const refused: Delta[] = [];
  let refusedRows = 0;
  let series = seriesCount;
  for (const delta of deltas) {
    if (isCounted(delta)) {
      counted.push(delta);
    } else if (series < maxSeries) {
      counted.push(delta);
      series++;
    } else {
      refused.push(delta);
      refusedRows += delta.count;
    }
  }
  return { counted, refused, refusedRows };
}

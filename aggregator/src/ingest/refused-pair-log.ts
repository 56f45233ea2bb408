import { DEFAULT_METRIC } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import { seriesKey } from "./ledger";
import type { SeriesDelta } from "./series-limit";

/** Series remembered as logged; beyond it, refused series are counted but no longer logged one by one. */
export const DEFAULT_LOGGED_PAIRS_CAPACITY = 10_000;

/**
 * Logs each series refused by the series limit once, so an operator sees
 * which labels overflowed without a line per batch. The series already logged
 * are kept up to a capacity; once it is reached, one last line says that
 * further series are only counted (in
 * `logtally_rows_rejected_total{reason="series_limit"}`), so memory stays
 * bounded whatever a sidecar sends. A pair of log_host_job_count is logged by
 * host and job name, as it always was; a series of another metric by its
 * metric and label values.
 */
export class RefusedPairLog {
  private readonly logged = new Set<string>();
  private full = false;

  constructor(
    private readonly maxSeries: number,
    private readonly log: Logger,
    private readonly capacity = DEFAULT_LOGGED_PAIRS_CAPACITY,
  ) {}

  /** Logs the series of one batch not logged before. */
  report(sourceId: string, refused: readonly SeriesDelta[]): void {
    for (const { metric, labels, count } of refused) {
      const key = seriesKey(metric, labels);
      if (this.logged.has(key)) continue;
      if (this.logged.size >= this.capacity) {
        if (!this.full) {
          this.log.warn({ loggedPairs: this.capacity }, "series limit: further refused pairs are counted, not logged");
        }
        this.full = true;
        return;
      }
      this.logged.add(key);
      const fields = { rows: count, sourceId, maxSeries: this.maxSeries };
      if (metric === DEFAULT_METRIC) {
        this.log.warn({ host: labels[0], jobName: labels[1], ...fields }, "series limit reached: rows of a new pair not counted");
      } else {
        this.log.warn({ metric, labels, ...fields }, "series limit reached: rows of a new series not counted");
      }
    }
  }
}

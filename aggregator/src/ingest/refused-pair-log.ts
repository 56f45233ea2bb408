import type { Logger } from "@logtally/runtime";
import { pairKey } from "./ledger";
import type { PairDelta } from "./series-limit";

/** Pairs remembered as logged; beyond it, refused pairs are counted but no longer logged one by one. */
export const DEFAULT_LOGGED_PAIRS_CAPACITY = 10_000;

/**
 * Logs each pair refused by the series limit once, so an operator sees which
 * labels overflowed without a line per batch. The pairs already logged are
 * kept up to a capacity; once it is reached, one last line says that further
 * pairs are only counted (in `logtally_rows_rejected_total{reason="series_limit"}`),
 * so memory stays bounded whatever a sidecar sends.
 */
export class RefusedPairLog {
  private readonly logged = new Set<string>();
  private full = false;

  constructor(
    private readonly maxSeries: number,
    private readonly log: Logger,
    private readonly capacity = DEFAULT_LOGGED_PAIRS_CAPACITY,
  ) {}

  /** Logs the pairs of one batch not logged before. */
  report(sourceId: string, refused: readonly PairDelta[]): void {
    for (const { host, jobName, count } of refused) {
      const key = pairKey(host, jobName);
      if (this.logged.has(key)) continue;
      if (this.logged.size >= this.capacity) {
        if (!this.full) {
          this.log.warn({ loggedPairs: this.capacity }, "series limit: further refused pairs are counted, not logged");
        }
        this.full = true;
        return;
      }
      this.logged.add(key);
      this.log.warn({ host, jobName, rows: count, sourceId, maxSeries: this.maxSeries }, "series limit reached: rows of a new pair not counted");
    }
  }
}

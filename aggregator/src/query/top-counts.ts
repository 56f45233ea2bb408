import { compareLabels } from "./sorted-counts";
import type { SeriesCount } from "../store/count-view";

/** Orders by count, largest first; ties by label values. */
function byCountDescending(a: Readonly<SeriesCount>, b: Readonly<SeriesCount>): number {
  return b.count - a.count || compareLabels(a.labels, b.labels);
}

/**
 * The `limit` series with the largest counts, largest first (ties by label
 * values: host, then job name for pairs), copied. One pass keeping the best
 * `limit` sorted, so a page of the top 50 out of 100,000 series costs one
 * look at each.
 */
export function topCounts(series: Iterable<Readonly<SeriesCount>>, limit: number): SeriesCount[] {
  const best: Array<Readonly<SeriesCount>> = [];
  if (limit <= 0) return [];
  for (const one of series) {
    if (best.length === limit && byCountDescending(one, best[limit - 1]!) >= 0) continue;
    let at = best.length;
    while (at > 0 && byCountDescending(one, best[at - 1]!) < 0) at--;
    best.splice(at, 0, one);
    if (best.length > limit) best.pop();
  }
  return best.map((one) => ({ metric: one.metric, labels: [...one.labels], count: one.count }));
}

import { comparePairs } from "./sorted-counts";
import type { PairCount } from "../store/count-view";

/** Orders by count, largest first; ties by host, then job name. */
function byCountDescending(a: Readonly<PairCount>, b: Readonly<PairCount>): number {
  return b.count - a.count || comparePairs(a, b);
}

/**
 * The `limit` pairs with the largest counts, largest first (ties by host,
 * then job name), copied. One pass keeping the best `limit` sorted, so a page
 * of the top 50 out of 100,000 series costs one look at each.
 */
export function topCounts(pairs: Iterable<Readonly<PairCount>>, limit: number): PairCount[] {
  const best: Array<Readonly<PairCount>> = [];
  if (limit <= 0) return [];
  for (const pair of pairs) {
    if (best.length === limit && byCountDescending(pair, best[limit - 1]!) >= 0) continue;
    let at = best.length;
    while (at > 0 && byCountDescending(pair, best[at - 1]!) < 0) at--;
    best.splice(at, 0, pair);
    if (best.length > limit) best.pop();
  }
  return best.map((pair) => ({ host: pair.host, jobName: pair.jobName, count: pair.count }));
}

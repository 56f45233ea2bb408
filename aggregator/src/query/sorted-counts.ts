import type { PairCount } from "../store/count-view";

/** Orders pairs by host, then job name (by UTF-16 code units, as `<` does). */
export function comparePairs(a: { host: string; jobName: string }, b: { host: string; jobName: string }): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  if (a.jobName !== b.jobName) return a.jobName < b.jobName ? -1 : 1;
  return 0;
}

/**
 * The store's pairs sorted by (host, job_name), for paging and range scans.
 * It holds the store's live objects, so counts are always current; pairs are
 * never removed (a count never goes away), and a new one is inserted in
 * place: new pairs are rare next to count updates, so a sorted array beats a
 * tree here.
 */
export class SortedCounts {
  private readonly pairs: Array<Readonly<PairCount>>;
  private readonly members: Set<Readonly<PairCount>>;

  constructor(initial: Iterable<Readonly<PairCount>> = []) {
    this.pairs = [...initial].sort(comparePairs);
    this.members = new Set(this.pairs);
  }

  /** Pairs held. */
  get size(): number {
    return this.pairs.length;
  }

  /** Adds a pair (an object the index does not hold yet); a pair already held is left alone. */
  add(pair: Readonly<PairCount>): void {
    if (this.members.has(pair)) return;
    this.members.add(pair);
    const at = this.partitionPoint((candidate) => comparePairs(candidate, pair) < 0);
    this.pairs.splice(at, 0, pair);
  }

  /** The pair at sorted position `index`. */
  at(index: number): Readonly<PairCount> | undefined {
    return this.pairs[index];
  }

  /**
   * The first position in [from, size) whose pair fails `before`, where
   * `before` holds for a leading run of that range and fails after it (binary
   * search).
   */
  partitionPoint(before: (pair: Readonly<PairCount>) => boolean, from = 0): number {
    let low = from;
    let high = this.pairs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (before(this.pairs[middle]!)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The first position whose pair sorts after (host, jobName). */
  positionAfter(host: string, jobName: string): number {
    const key = { host, jobName };
    return this.partitionPoint((pair) => comparePairs(pair, key) <= 0);
  }
}

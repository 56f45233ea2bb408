import type { SeriesCount } from "../store/count-view";

/** Orders label values position by position (each by UTF-16 code units, as `<` does); host, then job name for pairs. */
export function compareLabels(a: readonly string[], b: readonly string[]): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    if (a[index] !== b[index]) return a[index]! < b[index]! ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * One metric's series sorted by their label values, for paging and range
 * scans. It holds the store's live objects, so counts are always current;
 * series are never removed (a count never goes away), and a new one is
 * inserted in place: new series are rare next to count updates, so a sorted
 * array beats a tree here.
 */
export class SortedCounts {
  private readonly series: Array<Readonly<SeriesCount>>;
  private readonly members: Set<Readonly<SeriesCount>>;

  constructor(initial: Iterable<Readonly<SeriesCount>> = []) {
    this.series = [...initial].sort((a, b) => compareLabels(a.labels, b.labels));
    this.members = new Set(this.series);
  }

  /** Series held. */
  get size(): number {
    return this.series.length;
  }

  /** Adds a series (an object the index does not hold yet); a series already held is left alone. */
  add(series: Readonly<SeriesCount>): void {
    if (this.members.has(series)) return;
    this.members.add(series);
    const at = this.partitionPoint((candidate) => compareLabels(candidate.labels, series.labels) < 0);
    this.series.splice(at, 0, series);
  }

  /** The series at sorted position `index`. */
  at(index: number): Readonly<SeriesCount> | undefined {
    return this.series[index];
  }

  /**
   * The first position in [from, size) whose series fails `before`, where
   * `before` holds for a leading run of that range and fails after it (binary
   * search).
   */
  partitionPoint(before: (series: Readonly<SeriesCount>) => boolean, from = 0): number {
    let low = from;
    let high = this.series.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (before(this.series[middle]!)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The first position whose series sorts after `labels`. */
  positionAfter(labels: readonly string[]): number {
    return this.partitionPoint((series) => compareLabels(series.labels, labels) <= 0);
  }
}

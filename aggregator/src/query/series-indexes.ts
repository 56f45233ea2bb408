import type { CountView, SeriesCount } from "../store/count-view";
import { SortedCounts } from "./sorted-counts";

/**
 * The sorted index of every metric's series, kept up to date by the caller
 * with each committed change ({@link add}). A metric not counted yet has an
 * empty index, so a query of it selects nothing rather than failing: its
 * first sidecar may be on its way.
 */
export class SeriesIndexes {
  private readonly byMetric = new Map<string, SortedCounts>();
  private static readonly EMPTY = new SortedCounts();

  constructor(private readonly view: CountView) {
    for (const { definition, series } of view.allMetrics()) this.byMetric.set(definition.name, new SortedCounts(series));
  }

  /** Adds a series the view holds (see SortedCounts.add). */
  add(series: Readonly<SeriesCount>): void {
    let index = this.byMetric.get(series.metric);
    if (!index) this.byMetric.set(series.metric, (index = new SortedCounts()));
    index.add(series);
  }

  /** The series of `metric`, sorted; empty for a metric not counted. Do not add to it. */
  sorted(metric: string): SortedCounts {
    return this.byMetric.get(metric) ?? SeriesIndexes.EMPTY;
  }

  /** The label names of `metric`; undefined when it is not defined. */
  labelNames(metric: string): readonly string[] | undefined {
    return this.view.metric(metric)?.definition.labelNames;
  }
}

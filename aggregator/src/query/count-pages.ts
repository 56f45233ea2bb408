import { status } from "@grpc/grpc-js";
import { DEFAULT_METRIC, type PairCount, type SeriesCount as SeriesCountMessage } from "@logtally/proto";
import { seriesMatches, type SeriesSelection } from "./count-filter";
import { StatusError } from "../errors";
import { decodePageToken, encodePageToken } from "./page-token";
import type { SortedCounts } from "./sorted-counts";

/** Page size when a request asks for none. */
export const DEFAULT_PAGE_SIZE = 1000;

/** Largest page; larger requests get this many. */
export const MAX_PAGE_SIZE = 10_000;

/** One series of a page, copied: its label values in the order of the metric's label names. */
export interface PagedSeries {
  readonly labels: readonly string[];
  readonly count: number;
}

/** A page of counts, copied at the time of the request. */
export interface CountsPage {
  readonly series: PagedSeries[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
  /** Series matching the filter, over all pages. */
  readonly totalSize: number;
}

/**
 * The page size to use for a requested one: 0 means the default, a larger
 * value than the maximum means the maximum. Throws INVALID_ARGUMENT for a
 * negative one.
 */
export function effectivePageSize(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) {
    throw new StatusError(status.INVALID_ARGUMENT, `page_size ${requested} must not be negative`);
  }
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

/**
 * One page of the series `selection` selects in `index` (its metric's),
 * in label order, starting after the series `pageToken` names (from the
 * start when empty). Throws INVALID_ARGUMENT for a bad page size or token.
 *
 * A filter on the first label (host, for pairs) narrows the scan to its
 * contiguous range of the sorted index; other labels are checked series by
 * series.
 */
export function pageOfCounts(
  index: SortedCounts,
  selection: SeriesSelection,
  labelCount: number,
  request: { pageSize: number; pageToken: string },
): CountsPage {
  const pageSize = effectivePageSize(request.pageSize);
  const [rangeStart, rangeEnd] = selection.none ? [0, 0] : firstLabelRange(index, selection);
  let from = rangeStart;
  if (request.pageToken !== "") {
    const after = decodePageToken(request.pageToken, selection.filter, labelCount);
    from = Math.max(from, index.positionAfter(after));
  }
  const series: PagedSeries[] = [];
  let nextPageToken = "";
  for (let position = from; position < rangeEnd; position++) {
    const one = index.at(position)!;
    if (!seriesMatches(selection, one.labels)) continue;
    if (series.length === pageSize) {
      nextPageToken = encodePageToken(selection.filter, series.at(-1)!.labels);
      break;
    }
    series.push({ labels: one.labels, count: one.count });
  }
  return { series, nextPageToken, totalSize: countMatching(index, selection, rangeStart, rangeEnd) };
}

/** Positions [start, end) of the index that hold the first label values `selection` selects. */
function firstLabelRange(index: SortedCounts, selection: SeriesSelection): [number, number] {
  const first = selection.conditions[0];
  if (first?.index !== 0 || first.match.kind === "any") return [0, index.size];
  const match = first.match;
  const start = index.partitionPoint((series) => series.labels[0]! < match.value);
  // Every value starting with the prefix sorts at or after it, and they come
  // together: the first value past it that lacks it ends the run.
  const inRange = match.kind === "exact" ? (value: string) => value === match.value : (value: string) => value.startsWith(match.value);
  return [start, index.partitionPoint((series) => inRange(series.labels[0]!), start)];
}

function countMatching(index: SortedCounts, selection: SeriesSelection, start: number, end: number): number {
  const { conditions } = selection;
  if (conditions.length === 0 || (conditions.length === 1 && conditions[0]!.index === 0)) return end - start;
  let matching = 0;
  for (let position = start; position < end; position++) {
    if (seriesMatches(selection, index.at(position)!.labels)) matching++;
  }
  return matching;
}

/**
 * Series as the Query messages carry them: log_host_job_count's as pairs in
 * `counts`, as every client before counting specs reads them (and `series`
 * left empty); any other metric's in `series`, with its label names.
 */
export function countsMessageFields(
  metric: string,
  labelNames: readonly string[],
  series: readonly PagedSeries[],
): { counts: PairCount[]; series: SeriesCountMessage[] } {
  if (metric === DEFAULT_METRIC) {
    return { counts: series.map(({ labels, count }) => ({ host: labels[0]!, jobName: labels[1]!, count })), series: [] };
  }
  return {
    counts: [],
    series: series.map(({ labels, count }) => ({ metric, labels: Object.fromEntries(labelNames.map((name, index) => [name, labels[index]!])), count })),
  };
}

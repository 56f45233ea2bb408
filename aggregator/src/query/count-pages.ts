import { status } from "@grpc/grpc-js";
import type { CountFilter } from "./count-filter";
import { labelMatches } from "./count-filter";
import { StatusError } from "../errors";
import { decodePageToken, encodePageToken } from "./page-token";
import type { SortedCounts } from "./sorted-counts";

/** Page size when a request asks for none. */
export const DEFAULT_PAGE_SIZE = 1000;

/** Largest page; larger requests get this many. */
export const MAX_PAGE_SIZE = 10_000;

/** A page of counts, copied at the time of the request. */
export interface CountsPage {
  readonly counts: Array<{ host: string; jobName: string; count: number }>;
  /** Empty on the last page. */
  readonly nextPageToken: string;
  /** Pairs matching the filter, over all pages. */
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
 * One page of the pairs `filter` selects, in (host, job_name) order,
 * starting after the pair `pageToken` names (from the start when empty).
 * Throws INVALID_ARGUMENT for a bad page size or token.
 *
 * A host filter narrows the scan to the hosts' contiguous range of the sorted
 * index; a job filter alone is checked pair by pair.
 */
export function pageOfCounts(index: SortedCounts, filter: CountFilter, request: { pageSize: number; pageToken: string }): CountsPage {
  const pageSize = effectivePageSize(request.pageSize);
  const [rangeStart, rangeEnd] = hostRange(index, filter);
  let from = rangeStart;
  if (request.pageToken !== "") {
    const after = decodePageToken(request.pageToken, filter);
    from = Math.max(from, index.positionAfter(after.host, after.jobName));
  }
  const counts: CountsPage["counts"] = [];
  let nextPageToken = "";
  for (let position = from; position < rangeEnd; position++) {
    const pair = index.at(position)!;
    if (!labelMatches(filter.jobName, pair.jobName)) continue;
    if (counts.length === pageSize) {
      nextPageToken = encodePageToken(filter, counts.at(-1)!);
      break;
    }
    counts.push({ host: pair.host, jobName: pair.jobName, count: pair.count });
  }
  return { counts, nextPageToken, totalSize: countMatching(index, filter, rangeStart, rangeEnd) };
}

/** Positions [start, end) of the index that hold the hosts `filter` selects. */
function hostRange(index: SortedCounts, filter: CountFilter): [number, number] {
  const match = filter.host;
  switch (match.kind) {
    case "any":
      return [0, index.size];
    case "exact": {
      const start = index.partitionPoint((pair) => pair.host < match.value);
      return [start, index.partitionPoint((pair) => pair.host === match.value, start)];
    }
    case "prefix": {
      // Every host starting with the prefix sorts at or after it, and they
      // come together: the first host past it that lacks it ends the run.
      const start = index.partitionPoint((pair) => pair.host < match.value);
      return [start, index.partitionPoint((pair) => pair.host.startsWith(match.value), start)];
    }
  }
}

function countMatching(index: SortedCounts, filter: CountFilter, start: number, end: number): number {
  if (filter.jobName.kind === "any") return end - start;
  let matching = 0;
  for (let position = start; position < end; position++) {
    if (labelMatches(filter.jobName, index.at(position)!.jobName)) matching++;
  }
  return matching;
}

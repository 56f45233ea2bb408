import { test } from "node:test";
import * as assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { DEFAULT_LABEL_NAMES, DEFAULT_METRIC } from "@logtally/proto";
import { parseCountFilter, selectSeries, type CountFilter, type CountFilterFields } from "./count-filter";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, effectivePageSize, pageOfCounts } from "./count-pages";
import { StatusError } from "../errors";
import { encodePageToken } from "./page-token";
import { SortedCounts } from "./sorted-counts";
import type { SeriesCount } from "../store/count-view";

const NO_FILTER: CountFilterFields = { host: "", jobName: "", hostPrefix: "", jobNamePrefix: "", metric: "", labels: {} };

/** A (host, job_name) pair of log_host_job_count, as GetCounts returns it. */
interface PairCount {
  host: string;
  jobName: string;
  count: number;
}

function asSeries({ host, jobName, count }: PairCount): SeriesCount {
  return { metric: DEFAULT_METRIC, labels: [host, jobName], count };
}

function sortedPairs(pairs: Iterable<PairCount>): SortedCounts {
  return new SortedCounts([...pairs].map(asSeries));
}

/** A page of pairs, as pageOfCounts() makes it for log_host_job_count. */
function pageOf(index: SortedCounts, filter: CountFilter, request: { pageSize: number; pageToken: string }) {
  const page = pageOfCounts(index, selectSeries(filter, DEFAULT_LABEL_NAMES), 2, request);
  return { ...page, counts: page.series.map(({ labels: [host, jobName], count }) => ({ host: host!, jobName: jobName!, count })) };
}

/** Labels from a small alphabet, so that prefixes and equal hosts are common. */
const label = fc.string({ unit: fc.constantFrom("a", "b", "ab", "-", "é", "日", "\u{1F600}"), minLength: 1, maxLength: 4 });
const pairs = fc.uniqueArray(fc.record({ host: label, jobName: label, count: fc.integer({ min: 1, max: 1000 }) }), {
  selector: (pair) => `${pair.host}\u0000${pair.jobName}`,
  maxLength: 60,
});
// Each field is left empty half the time, so that a quarter of the filters
// leave the hosts alone and the walk crosses many hosts: a host filter alone
// would hide a wrong order of hosts.
const filterFields: fc.Arbitrary<CountFilterFields> = fc
  .record({
    host: fc.option(label, { nil: "", freq: 2 }),
    hostPrefix: fc.option(label, { nil: "", freq: 2 }),
    jobName: fc.option(label, { nil: "", freq: 2 }),
    jobNamePrefix: fc.option(label, { nil: "", freq: 2 }),
  })
  // Exact value and prefix of one label are exclusive.
  .map((fields) => ({
    ...fields,
    hostPrefix: fields.host ? "" : fields.hostPrefix,
    jobNamePrefix: fields.jobName ? "" : fields.jobNamePrefix,
    metric: "",
    labels: {},
  }));

/** Walks every page; returns the pages. */
function walk(index: SortedCounts, filter: CountFilter, pageSize: number, between: (page: number) => void = () => undefined) {
  const pages: Array<ReturnType<typeof pageOf>> = [];
  let pageToken = "";
  do {
    const page = pageOf(index, filter, { pageSize, pageToken });
    pages.push(page);
    pageToken = page.nextPageToken;
    between(pages.length);
    assert.ok(pages.length <= 10_000, "the walk ends");
  } while (pageToken !== "");
  return pages;
}

// The expectations below are worked out here, from the documented meaning of
// a filter and the documented order, and never with the filter or comparator
// under test: a mistake there must not be copied into what it is checked against.

/** The key of a pair: host, then job name; U+0000, never in a label, sorts a host before the longer hosts it begins. */
const pairKey = (pair: { host: string; jobName: string }): string => `${pair.host}\u0000${pair.jobName}`;

/** Pairs in the order GetCounts documents: by host, then job name, each by UTF-16 code units (as `<` compares strings). */
function inDocumentedOrder<T extends { host: string; jobName: string }>(pairs: readonly T[]): T[] {
  return [...pairs].sort((a, b) => (pairKey(a) < pairKey(b) ? -1 : pairKey(a) > pairKey(b) ? 1 : 0));
}

/** Whether the filter fields select a pair: an exact value must equal the label, a prefix must begin it, an empty field selects every label. */
function selects(fields: CountFilterFields, pair: { host: string; jobName: string }): boolean {
  const selectsLabel = (label: string, exact: string, prefix: string): boolean => (exact === "" || label === exact) && label.startsWith(prefix);
  return selectsLabel(pair.host, fields.host, fields.hostPrefix) && selectsLabel(pair.jobName, fields.jobName, fields.jobNamePrefix);
}

function expected(all: readonly PairCount[], fields: CountFilterFields): PairCount[] {
  return inDocumentedOrder(all.filter((pair) => selects(fields, pair))).map(({ host, jobName, count }) => ({ host, jobName, count }));
}

/** Pairs whose labels sort differently by code units, by code points, by case or as numbers, given out of order. */
const TRICKY_PAIRS: readonly PairCount[] = [
  { host: "web-2", jobName: "backup", count: 3 },
  { host: "\uff21", jobName: "backup", count: 1 },
  { host: "web-10", jobName: "backup", count: 1 },
  { host: "web", jobName: "vacuum", count: 4 },
  { host: "\u{1F600}", jobName: "backup", count: 8 },
  { host: "Web-3", jobName: "backup", count: 9 },
  { host: "db-1", jobName: "cron daily", count: 2 },
  { host: "web-2", jobName: "archive", count: 5 },
  { host: "web-1", jobName: "backup-full", count: 6 },
  { host: "\u00e9clair", jobName: "backup", count: 7 },
];

/** What each filter must return from TRICKY_PAIRS, written out by hand in the documented order. */
const TRICKY_CASES: ReadonlyArray<readonly [filter: Partial<CountFilterFields>, want: ReadonlyArray<readonly [string, string, number]>]> = [
  [
    {},
    [
      // Upper case before lower case, a host before the longer hosts it begins,
      // digits as text, and U+1F600 (its first code unit is 0xD83D) before U+FF21.
      ["Web-3", "backup", 9],
      ["db-1", "cron daily", 2],
      ["web", "vacuum", 4],
      ["web-1", "backup-full", 6],
      ["web-10", "backup", 1],
      ["web-2", "archive", 5],
      ["web-2", "backup", 3],
      ["\u00e9clair", "backup", 7],
      ["\u{1F600}", "backup", 8],
      ["\uff21", "backup", 1],
    ],
  ],
  [
    { hostPrefix: "web-" },
    [
      ["web-1", "backup-full", 6],
      ["web-10", "backup", 1],
      ["web-2", "archive", 5],
      ["web-2", "backup", 3],
    ],
  ],
  [
    { host: "web-2" },
    [
      ["web-2", "archive", 5],
      ["web-2", "backup", 3],
    ],
  ],
  [
    { jobName: "backup" },
    [
      ["Web-3", "backup", 9],
      ["web-10", "backup", 1],
      ["web-2", "backup", 3],
      ["\u00e9clair", "backup", 7],
      ["\u{1F600}", "backup", 8],
      ["\uff21", "backup", 1],
    ],
  ],
  [
    { jobNamePrefix: "backup" },
    [
      ["Web-3", "backup", 9],
      ["web-1", "backup-full", 6],
      ["web-10", "backup", 1],
      ["web-2", "backup", 3],
      ["\u00e9clair", "backup", 7],
      ["\u{1F600}", "backup", 8],
      ["\uff21", "backup", 1],
    ],
  ],
  [
    { hostPrefix: "web", jobName: "backup" },
    [
      ["web-10", "backup", 1],
      ["web-2", "backup", 3],
    ],
  ],
  [{ host: "web-3" }, []],
];

test("each filter returns the pairs written out for it, in the documented order, at any page size", () => {
  for (const [fields, want] of TRICKY_CASES) {
    const filter = parseCountFilter({ ...NO_FILTER, ...fields });
    const wantCounts = want.map(([host, jobName, count]) => ({ host, jobName, count }));
    for (const pageSize of [1, 3, 1000]) {
      const pages = walk(sortedPairs(TRICKY_PAIRS.map((pair) => ({ ...pair }))), filter, pageSize);
      assert.deepEqual(
        pages.flatMap((page) => page.counts),
        wantCounts,
        `${JSON.stringify(fields)}, pages of ${pageSize}`,
      );
      for (const page of pages) assert.equal(page.totalSize, want.length);
    }
  }
});

test("walking the pages returns every matching pair once, in order, whatever the filter and page size", () => {
  fc.assert(
    fc.property(pairs, filterFields, fc.integer({ min: 1, max: 12 }), (all, fields, pageSize) => {
      const index = sortedPairs(all);
      const filter = parseCountFilter(fields);
      const want = expected(all, fields);
      const pages = walk(index, filter, pageSize);
      assert.deepEqual(
        pages.flatMap((page) => page.counts),
        want,
      );
      for (const [number, page] of pages.entries()) {
        assert.equal(page.totalSize, want.length);
        const last = number === pages.length - 1;
        assert.equal(page.counts.length, last ? want.length - pageSize * (pages.length - 1) : pageSize);
        assert.equal(page.nextPageToken === "", last);
      }
    }),
  );
});

test("pairs added during a walk never make it repeat or skip a pair that was there from the start", () => {
  fc.assert(
    fc.property(pairs, pairs, filterFields, fc.integer({ min: 1, max: 5 }), (initial, added, fields, pageSize) => {
      const index = sortedPairs(initial);
      const filter = parseCountFilter(fields);
      const newcomers = added.filter((pair) => !initial.some((old) => pairKey(old) === pairKey(pair)));
      let next = 0;
      const pages = walk(index, filter, pageSize, () => {
        // Between pages, a new pair arrives (before or after the cursor).
        if (next < newcomers.length) index.add(asSeries(newcomers[next++]!));
      });
      const seen = pages.flatMap((page) => page.counts);
      const keys = seen.map(pairKey);
      assert.equal(new Set(keys).size, keys.length, "no pair twice");
      assert.deepEqual(inDocumentedOrder(seen), seen, "in order");
      for (const pair of expected(initial, fields)) assert.ok(keys.includes(pairKey(pair)), `${pair.host}/${pair.jobName} seen`);
    }),
  );
});

test("counts are read when the page is made: the page holds copies", () => {
  const live = asSeries({ host: "a", jobName: "b", count: 1 });
  const index = new SortedCounts([live]);
  const page = pageOf(index, parseCountFilter(NO_FILTER), { pageSize: 0, pageToken: "" });
  live.count = 5;
  assert.deepEqual(page.counts, [{ host: "a", jobName: "b", count: 1 }]);
  assert.deepEqual(pageOf(index, parseCountFilter(NO_FILTER), { pageSize: 0, pageToken: "" }).counts, [{ host: "a", jobName: "b", count: 5 }]);
});

test("page size: 0 is the default, above the maximum is the maximum, negative is refused", () => {
  assert.equal(effectivePageSize(0), DEFAULT_PAGE_SIZE);
  assert.equal(effectivePageSize(1), 1);
  assert.equal(effectivePageSize(MAX_PAGE_SIZE), MAX_PAGE_SIZE);
  assert.equal(effectivePageSize(MAX_PAGE_SIZE + 1), MAX_PAGE_SIZE);
  assert.equal(effectivePageSize(2 ** 31 - 1), MAX_PAGE_SIZE);
  assertInvalidArgument(() => effectivePageSize(-1), /page_size -1 must not be negative/);

  const many = Array.from({ length: MAX_PAGE_SIZE + 5 }, (_, i) => ({ host: `h${i}`, jobName: "j", count: 1 }));
  const index = sortedPairs(many);
  const filter = parseCountFilter(NO_FILTER);
  assert.equal(pageOf(index, filter, { pageSize: 0, pageToken: "" }).counts.length, DEFAULT_PAGE_SIZE);
  assert.equal(pageOf(index, filter, { pageSize: 50_000, pageToken: "" }).counts.length, MAX_PAGE_SIZE);
});

test("a page token works only with the filter it was issued for", () => {
  const index = sortedPairs([
    { host: "a", jobName: "x", count: 1 },
    { host: "b", jobName: "x", count: 1 },
  ]);
  const hostA = parseCountFilter({ ...NO_FILTER, hostPrefix: "a" });
  const token = encodePageToken(hostA, ["a", "x"]);
  assert.deepEqual(pageOf(index, hostA, { pageSize: 1, pageToken: token }).counts, []);
  assertInvalidArgument(
    () => pageOf(index, parseCountFilter(NO_FILTER), { pageSize: 1, pageToken: token }),
    /page_token is invalid: it was issued for another filter/,
  );
});

test("a filter that no label could match is refused, and so is an exact value with a prefix", () => {
  assertInvalidArgument(() => parseCountFilter({ ...NO_FILTER, host: "a\u0000b" }), /host filter is not a valid label: invalid_label/);
  assertInvalidArgument(
    () => parseCountFilter({ ...NO_FILTER, jobNamePrefix: "x".repeat(1025) }),
    /job_name_prefix filter is not a valid label: field_too_long/,
  );
  assertInvalidArgument(() => parseCountFilter({ ...NO_FILTER, host: "a", hostPrefix: "a" }), /give host or host_prefix, not both/);
  assertInvalidArgument(() => parseCountFilter({ ...NO_FILTER, jobName: "a", jobNamePrefix: "b" }), /give job_name or job_name_prefix, not both/);
});

function assertInvalidArgument(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof StatusError, String(error));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.match(error.message, message);
    return true;
  });
}

test("series of another metric are selected by any label, sorted by label values, and paged by tokens of their own", () => {
  const labelNames = ["method", "status", "path"];
  const series = (method: string, code: string, path: string, count: number): SeriesCount => ({ metric: "http_requests", labels: [method, code, path], count });
  const index = new SortedCounts([series("POST", "500", "/a", 1), series("GET", "500", "/b", 2), series("GET", "200", "/a", 3), series("PUT", "500", "/a", 4)]);
  const select = (labels: Record<string, string>) => selectSeries(parseCountFilter({ ...NO_FILTER, metric: "http_requests", labels }), labelNames);
  const walkAll = (labels: Record<string, string>) => {
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = pageOfCounts(index, select(labels), labelNames.length, { pageSize: 1, pageToken });
      seen.push(...page.series.map((one) => `${one.labels.join(" ")}=${one.count}`));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return seen;
  };
  assert.deepEqual(walkAll({}), ["GET 200 /a=3", "GET 500 /b=2", "POST 500 /a=1", "PUT 500 /a=4"]);
  assert.deepEqual(walkAll({ status: "500", path: "/a" }), ["POST 500 /a=1", "PUT 500 /a=4"]);
  assert.deepEqual(walkAll({ method: "GET" }), ["GET 200 /a=3", "GET 500 /b=2"]);
  assert.equal(pageOfCounts(index, select({ status: "500" }), 3, { pageSize: 0, pageToken: "" }).totalSize, 3);
  assert.deepEqual(walkAll({ host: "web-1" }), [], "a label the metric does not have selects nothing");
  const token = pageOfCounts(index, select({}), 3, { pageSize: 1, pageToken: "" }).nextPageToken;
  assertInvalidArgument(() => pageOfCounts(index, select({ status: "500" }), 3, { pageSize: 1, pageToken: token }), /issued for another filter/);
});

test("a metric filter is checked, and host or job_name fields select only in log_host_job_count", () => {
  assert.equal(parseCountFilter(NO_FILTER).metric, DEFAULT_METRIC);
  assertInvalidArgument(() => parseCountFilter({ ...NO_FILTER, metric: "http_requests_total" }), /ends with _total/);
  assertInvalidArgument(() => parseCountFilter({ ...NO_FILTER, metric: "http_requests", host: "web-1" }), /select in log_host_job_count only/);
  assertInvalidArgument(() => parseCountFilter({ ...NO_FILTER, metric: "m", labels: { "bad-name": "x" } }), /labels filter "bad-name": label name/);
  assertInvalidArgument(() => parseCountFilter({ ...NO_FILTER, metric: "m", labels: { method: "" } }), /labels filter "method": empty_field/);
});

test("a pair's page token is the one issued before filters named a metric", () => {
  const filter = parseCountFilter({ ...NO_FILTER, hostPrefix: "web" });
  const token = encodePageToken(filter, ["web-1", "backup"]);
  const fields = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  assert.equal(fields.length, 4);
  assert.deepEqual(fields.slice(2), ["web-1", "backup"]);
});

import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { GetCountsRequest, GetCountsResponse__Output, PairCount__Output } from "@logtally/proto";
import { IngestStream } from "../support/ingest-client";
import { startAggregator, type AggregatorProcess } from "../support/processes";
import { QueryProbe } from "../support/query";

const HOSTS = ["web-1", "web-10", "web-2", "webby", "db-1", "東京-1", "\u{1F600}-edge"];
const PAIRS = 1234;
const MAX_PAGE_SIZE = 10_000;

/** The pairs shipped, with their counts: two sources ship parts of them, some the same pairs. */
function truth(): PairCount__Output[] {
  return Array.from({ length: PAIRS }, (_, i) => ({
    host: HOSTS[i % HOSTS.length]!,
    jobName: i % 50 === 0 ? `report,"weekly" ${i}` : `job-${Math.floor(i / HOSTS.length)}`,
    count: 1 + (i % 13),
  }));
}

function byKey(a: PairCount__Output, b: PairCount__Output): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  return a.jobName < b.jobName ? -1 : a.jobName > b.jobName ? 1 : 0;
}

/**
 * Requirement: GetCounts pages through the counts in (host, job_name) order
 * with opaque tokens, filters by exact value or prefix, reports the total,
 * and refuses what it cannot honour with INVALID_ARGUMENT.
 */
describe("GetCounts pages and filters", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-query-counts-"));
  let aggregator: AggregatorProcess;
  let probe: QueryProbe;
  const expected = truth().sort(byKey);
  let sequence = 0;

  /** Ships deltas as one batch of a source of its own. */
  const ship = async (sourceId: string, deltas: PairCount__Output[]): Promise<void> => {
    const stream = await IngestStream.open(aggregator.grpcAddress, { sourceId });
    try {
      const ack = await stream.ship({
        sequence: ++sequence,
        startOffset: 0,
        endOffset: 100 * deltas.length,
        deltas,
        rows: deltas.reduce((sum, delta) => sum + delta.count, 0),
        rejected: [],
        anchor: "",
      });
      assert.equal(ack.outcome, "APPLIED");
    } finally {
      stream.close();
    }
  };

  /** Walks every page of `request` with `pageSize`; returns the pages. */
  const walk = async (request: GetCountsRequest, pageSize: number, between: () => Promise<void> = async () => undefined) => {
    const pages: GetCountsResponse__Output[] = [];
    let pageToken = "";
    do {
      const page = await probe.getCountsPage({ ...request, pageSize, pageToken });
      pages.push(page);
      pageToken = page.nextPageToken;
      assert.ok(pages.length <= PAIRS + 1, "the walk ends");
      await between();
    } while (pageToken !== "");
    return pages;
  };

  const assertInvalid = async (request: GetCountsRequest, details: RegExp): Promise<void> => {
    await assert.rejects(probe.getCountsPage(request), (error: grpc.ServiceError) => {
      assert.equal(grpc.status[error.code], "INVALID_ARGUMENT", `${JSON.stringify(request).slice(0, 200)}: ${error.details}`);
      assert.match(error.details, details);
      return true;
    });
  };

  before(async () => {
    aggregator = await startAggregator(path.join(dir, "state"));
    probe = new QueryProbe(aggregator.grpcAddress);
    // Two sources: the first ships every pair with one row, the second the
    // rest of each count; the aggregator sums them.
    const all = truth();
    await ship(
      "pod-a",
      all.map((pair) => ({ ...pair, count: 1 })),
    );
    await ship(
      "pod-b",
      all.filter((pair) => pair.count > 1).map((pair) => ({ ...pair, count: pair.count - 1 })),
    );
  });

  after(async () => {
    probe?.close();
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const pageSize of [1, 7, MAX_PAGE_SIZE]) {
    it(`walks every pair exactly once, in order, with page size ${pageSize}`, async () => {
      const pages = await walk({}, pageSize);
      assert.deepEqual(
        pages.flatMap((page) => page.counts),
        expected,
      );
      assert.equal(pages.length, Math.ceil(PAIRS / pageSize));
      for (const [number, page] of pages.entries()) {
        assert.equal(page.totalSize, PAIRS);
        assert.equal(page.nextPageToken === "", number === pages.length - 1, `page ${number}: a token on every page but the last`);
        assert.ok(page.counts.length <= pageSize);
      }
    });
  }

  it("gives 1000 pairs when no page size is asked for", async () => {
    const page = await probe.getCountsPage({});
    assert.equal(page.counts.length, 1000);
    assert.deepEqual(page.counts, expected.slice(0, 1000));
    assert.notEqual(page.nextPageToken, "");
    const rest = await probe.getCountsPage({ pageToken: page.nextPageToken });
    assert.deepEqual(rest.counts, expected.slice(1000));
    assert.equal(rest.nextPageToken, "");
    // Over the maximum is the maximum, which here holds everything.
    assert.equal((await probe.getCountsPage({ pageSize: 1_000_000 })).counts.length, PAIRS);
  });

  const filters: Array<[string, GetCountsRequest, (pair: PairCount__Output) => boolean]> = [
    ["an exact host", { host: "web-1" }, (pair) => pair.host === "web-1"],
    ["a host prefix", { hostPrefix: "web-1" }, (pair) => pair.host.startsWith("web-1")],
    ["a non-ASCII host prefix", { hostPrefix: "\u{1F600}" }, (pair) => pair.host.startsWith("\u{1F600}")],
    ["an exact job", { jobName: "job-3" }, (pair) => pair.jobName === "job-3"],
    ["a job prefix", { jobNamePrefix: "report," }, (pair) => pair.jobName.startsWith("report,")],
    ["host and job", { host: "webby", jobNamePrefix: "job-1" }, (pair) => pair.host === "webby" && pair.jobName.startsWith("job-1")],
    ["host prefix and job", { hostPrefix: "web", jobName: "job-17" }, (pair) => pair.host.startsWith("web") && pair.jobName === "job-17"],
    ["a host no pair has", { host: "web-3" }, () => false],
  ];
  for (const [name, request, selects] of filters) {
    it(`filters by ${name}, a page at a time`, async () => {
      const want = expected.filter(selects);
      const pages = await walk(request, 7);
      assert.deepEqual(
        pages.flatMap((page) => page.counts),
        want,
      );
      assert.ok(pages.every((page) => page.totalSize === want.length));
      assert.deepEqual(await probe.getCounts(request), want, "and in one go");
    });
  }

  it("refuses a bad token, a token of another filter, a negative size and a contradictory filter", async () => {
    const first = await probe.getCountsPage({ hostPrefix: "web", pageSize: 3 });
    assert.notEqual(first.nextPageToken, "");
    await assertInvalid({ hostPrefix: "web", pageToken: "not-a-token" }, /page_token is invalid/);
    await assertInvalid({ hostPrefix: "web", pageToken: `${first.nextPageToken}x` }, /page_token is invalid/);
    await assertInvalid({ hostPrefix: "db", pageToken: first.nextPageToken }, /page_token is invalid: it was issued for another filter/);
    await assertInvalid({ pageSize: -1 }, /page_size -1 must not be negative/);
    await assertInvalid({ host: "web-1", hostPrefix: "web" }, /give host or host_prefix, not both/);
    await assertInvalid({ jobName: "a\u0007b" }, /job_name filter is not a valid label/);
    // The token still works with its own filter.
    const second = await probe.getCountsPage({ hostPrefix: "web", pageSize: 3, pageToken: first.nextPageToken });
    assert.deepEqual(second.counts, expected.filter((pair) => pair.host.startsWith("web")).slice(3, 6));
  });

  it("returns each pair once during a walk while new pairs are counted before and after the cursor", async () => {
    const before = (await probe.getCounts({})).map((pair) => `${pair.host}|${pair.jobName}`);
    let added = 0;
    const pages = await walk({}, 97, async () => {
      added++;
      // "a…" sorts before every host walked so far, "zz…" after all of them.
      await ship(`late-${added}`, [
        { host: `a-late-${added}`, jobName: "job", count: 1 },
        { host: `zz-late-${added}`, jobName: "job", count: 1 },
        { host: "web-1", jobName: "job-0", count: 1 },
      ]);
    });
    const keys = pages.flatMap((page) => page.counts).map((pair) => `${pair.host}|${pair.jobName}`);
    assert.equal(new Set(keys).size, keys.length, "no pair twice");
    for (const key of before) assert.ok(keys.includes(key), `${key} seen`);
    assert.ok(!keys.some((key) => key.startsWith("a-late-")), "pairs added before the cursor are not seen");
    assert.ok(
      keys.some((key) => key.startsWith("zz-late-")),
      "pairs added ahead of the cursor are seen",
    );
  });
});

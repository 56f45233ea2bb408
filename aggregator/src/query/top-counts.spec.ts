import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { DEFAULT_METRIC } from "@logtally/proto";
import { topCounts } from "./top-counts";

/** topCounts() of pairs of log_host_job_count, as pairs. */
function topPairs(pairs: ReadonlyArray<{ host: string; jobName: string; count: number }>, limit: number) {
  return topCounts(
    pairs.map(({ host, jobName, count }) => ({ metric: DEFAULT_METRIC, labels: [host, jobName], count })),
    limit,
  ).map(({ labels: [host, jobName], count }) => ({ host: host!, jobName: jobName!, count }));
}

/**
 * The documented order of the top counts, written out here rather than taken
 * from the code under test: count, largest first; ties by host, then job name
 * (U+0000, never in a label, sorts a host before the longer hosts it begins).
 */
function byCountThenLabels(a: { host: string; jobName: string; count: number }, b: { host: string; jobName: string; count: number }): number {
  const keyA = `${a.host}\u0000${a.jobName}`;
  const keyB = `${b.host}\u0000${b.jobName}`;
  return b.count - a.count || (keyA < keyB ? -1 : keyA > keyB ? 1 : 0);
}

test("topCounts takes the largest counts first and breaks ties by host, then job name", () => {
  const pairs = [
    { host: "b", jobName: "x", count: 2 },
    { host: "ab", jobName: "y", count: 5 },
    { host: "c", jobName: "x", count: 5 },
    { host: "a", jobName: "z", count: 5 },
    { host: "d", jobName: "z", count: 1 },
    { host: "b", jobName: "w", count: 2 },
    { host: "a", jobName: "y", count: 5 },
  ];
  assert.deepEqual(topPairs(pairs, 4), [
    { host: "a", jobName: "y", count: 5 },
    { host: "a", jobName: "z", count: 5 },
    { host: "ab", jobName: "y", count: 5 },
    { host: "c", jobName: "x", count: 5 },
  ]);
  assert.deepEqual(topPairs(pairs, 100), [
    { host: "a", jobName: "y", count: 5 },
    { host: "a", jobName: "z", count: 5 },
    { host: "ab", jobName: "y", count: 5 },
    { host: "c", jobName: "x", count: 5 },
    { host: "b", jobName: "w", count: 2 },
    { host: "b", jobName: "x", count: 2 },
    { host: "d", jobName: "z", count: 1 },
  ]);
  assert.deepEqual(topPairs(pairs, 0), []);
});

test("topCounts is the head of all pairs sorted by count, largest first, ties by host and job", () => {
  const pairs = fc.uniqueArray(
    fc.record({ host: fc.constantFrom("a", "ab", "b", "c", "d"), jobName: fc.constantFrom("x", "y", "z"), count: fc.integer({ min: 1, max: 5 }) }),
    { selector: (pair) => `${pair.host}/${pair.jobName}` },
  );
  fc.assert(
    fc.property(pairs, fc.integer({ min: 0, max: 15 }), (all, limit) => {
      const sorted = [...all].sort(byCountThenLabels);
      assert.deepEqual(
        topPairs(all, limit),
        sorted.slice(0, limit).map((pair) => ({ ...pair })),
      );
    }),
  );
});

test("topCounts copies what it returns", () => {
  const live = { host: "a", jobName: "b", count: 1 };
  const [top] = topPairs([live], 1);
  live.count = 2;
  assert.equal(top?.count, 1);
});

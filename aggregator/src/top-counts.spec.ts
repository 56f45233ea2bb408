import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { comparePairs } from "./sorted-counts";
import { topCounts } from "./top-counts";

test("topCounts is the head of all pairs sorted by count, largest first, ties by host and job", () => {
  const pairs = fc.uniqueArray(
    fc.record({ host: fc.constantFrom("a", "b", "c", "d"), jobName: fc.constantFrom("x", "y", "z"), count: fc.integer({ min: 1, max: 5 }) }),
    { selector: (pair) => `${pair.host}/${pair.jobName}` },
  );
  fc.assert(
    fc.property(pairs, fc.integer({ min: 0, max: 15 }), (all, limit) => {
      const sorted = [...all].sort((a, b) => b.count - a.count || comparePairs(a, b));
      assert.deepEqual(topCounts(all, limit), sorted.slice(0, limit).map((pair) => ({ ...pair })));
    }),
  );
});

test("topCounts copies what it returns", () => {
  const live = { host: "a", jobName: "b", count: 1 };
  const [top] = topCounts([live], 1);
  live.count = 2;
  assert.equal(top?.count, 1);
});

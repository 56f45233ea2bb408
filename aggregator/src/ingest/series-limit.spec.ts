import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { pairKey } from "./ledger";
import { splitBySeriesLimit, type PairDelta } from "./series-limit";

test("existing pairs always count; new pairs take the free series in batch order; the rest is refused", () => {
  const existing = new Set([pairKey("a", "x")]);
  const deltas: PairDelta[] = [
    { host: "b", jobName: "x", count: 2 },
    { host: "a", jobName: "x", count: 5 },
    { host: "c", jobName: "x", count: 3 },
  ];
  const split = splitBySeriesLimit(deltas, (delta) => existing.has(pairKey(delta.host, delta.jobName)), 1, 2);
  assert.deepEqual(split.counted, [deltas[0], deltas[1]]);
  assert.deepEqual(split.refused, [deltas[2]]);
  assert.equal(split.refusedRows, 3);
  const full = splitBySeriesLimit(deltas, (delta) => existing.has(pairKey(delta.host, delta.jobName)), 1, 1);
  assert.deepEqual(full.counted, [deltas[1]]);
  assert.equal(full.refusedRows, 5);
});

test("over random batches applied in sequence, the series never exceed the limit and every row is counted or refused", () => {
  const pair = fc.record({ host: fc.constantFrom("h1", "h2", "h3", "h4", "h5", "h6"), jobName: fc.constantFrom("j1", "j2") });
  const batch = fc.uniqueArray(fc.record({ pair, count: fc.integer({ min: 1, max: 9 }) }), {
    selector: ({ pair }) => pairKey(pair.host, pair.jobName),
    maxLength: 8,
  });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.array(batch, { maxLength: 10 }), (maxSeries, batches) => {
      const counts = new Map<string, number>();
      let rowsIn = 0;
      let rowsOut = 0;
      for (const entries of batches) {
        const deltas = entries.map(({ pair, count }) => ({ ...pair, count }));
        const before = new Set(counts.keys());
        const split = splitBySeriesLimit(deltas, (delta) => counts.has(pairKey(delta.host, delta.jobName)), counts.size, maxSeries);
        for (const delta of split.counted) counts.set(pairKey(delta.host, delta.jobName), (counts.get(pairKey(delta.host, delta.jobName)) ?? 0) + delta.count);
        rowsIn += deltas.reduce((sum, delta) => sum + delta.count, 0);
        rowsOut += split.counted.reduce((sum, delta) => sum + delta.count, 0) + split.refusedRows;
        assert.ok(counts.size <= maxSeries, `${counts.size} series over the limit ${maxSeries}`);
        for (const delta of split.refused) assert.ok(!before.has(pairKey(delta.host, delta.jobName)), "an existing pair was refused");
        if (split.refused.length > 0) assert.equal(counts.size, maxSeries, "a pair was refused while a series was free");
      }
      assert.equal(rowsOut, rowsIn);
    }),
  );
});

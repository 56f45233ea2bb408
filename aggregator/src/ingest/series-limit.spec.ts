import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { seriesKey } from "./ledger";
import { splitBySeriesLimit, type SeriesDelta } from "./series-limit";

const keyOf = (delta: SeriesDelta): string => seriesKey(delta.metric, delta.labels);
const series = (metric: string, label: string, count: number): SeriesDelta => ({ metric, labels: [label], count });

test("existing series always count; new series take the free series in batch order; the rest is refused", () => {
  const existing = new Set([seriesKey("m", ["a"])]);
  const deltas = [series("m", "b", 2), series("m", "a", 5), series("m", "c", 3)];
  const split = splitBySeriesLimit(
    deltas,
    (delta) => existing.has(keyOf(delta)),
    () => 1,
    2,
  );
  assert.deepEqual(split.counted, [deltas[0], deltas[1]]);
  assert.deepEqual(split.refused, [deltas[2]]);
  assert.equal(split.refusedRows, 3);
  const full = splitBySeriesLimit(
    deltas,
    (delta) => existing.has(keyOf(delta)),
    () => 1,
    1,
  );
  assert.deepEqual(full.counted, [deltas[1]]);
  assert.equal(full.refusedRows, 5);
});

test("each metric has its own room: a full metric refuses its new series, another takes its own", () => {
  const counts = new Map([
    ["full", 2],
    ["roomy", 0],
  ]);
  const deltas = [series("full", "x", 1), series("roomy", "x", 1), series("roomy", "y", 1), series("roomy", "z", 4)];
  const split = splitBySeriesLimit(
    deltas,
    () => false,
    (metric) => counts.get(metric) ?? 0,
    2,
  );
  assert.deepEqual(split.counted, [deltas[1], deltas[2]]);
  assert.deepEqual(split.refused, [deltas[0], deltas[3]]);
  assert.equal(split.refusedRows, 5);
});

test("over random batches applied in sequence, no metric exceeds the limit and every row is counted or refused", () => {
  const delta = fc.record({
    metric: fc.constantFrom("m1", "m2", "m3"),
    labels: fc.tuple(fc.constantFrom("h1", "h2", "h3", "h4", "h5", "h6")),
    count: fc.integer({ min: 1, max: 9 }),
  });
  const batch = fc.uniqueArray(delta, { selector: keyOf, maxLength: 12 });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(batch, { maxLength: 10 }), (maxSeries, batches) => {
      const counts = new Map<string, number>();
      const seriesOf = (metric: string) => [...counts.keys()].filter((key) => key.startsWith(`${metric}\u0000`)).length;
      let rowsIn = 0;
      let rowsOut = 0;
      for (const deltas of batches) {
        const before = new Set(counts.keys());
        const split = splitBySeriesLimit(deltas, (one) => counts.has(keyOf(one)), seriesOf, maxSeries);
        for (const one of split.counted) counts.set(keyOf(one), (counts.get(keyOf(one)) ?? 0) + one.count);
        rowsIn += deltas.reduce((sum, one) => sum + one.count, 0);
        rowsOut += split.counted.reduce((sum, one) => sum + one.count, 0) + split.refusedRows;
        for (const metric of ["m1", "m2", "m3"]) assert.ok(seriesOf(metric) <= maxSeries, `${metric} has ${seriesOf(metric)} series, over ${maxSeries}`);
        for (const one of split.refused) {
          assert.ok(!before.has(keyOf(one)), "an existing series was refused");
          assert.equal(seriesOf(one.metric), maxSeries, "a series was refused while its metric had room");
        }
      }
      assert.equal(rowsOut, rowsIn);
    }),
  );
});

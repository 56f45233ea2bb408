import { test } from "node:test";
import * as assert from "node:assert/strict";
import { decideGroup, generationKey, type CommittedView, type GroupedBatch } from "./batch-group";
import { seriesKey } from "./ledger";
import { pairDelta } from "../testing/commit-batch";
import { DEFAULT_METRIC } from "@logtally/proto";

/** A committed state written out by hand: what the group is decided against. */
function viewOf({
  generations = {},
  latestEpochs = {},
  counted = [],
  maxSeries = 1_000,
  sourcesCreated = {},
}: {
  generations?: Record<string, { committedOffset: number; fileBirthMs?: number }>;
  latestEpochs?: Record<string, number>;
  counted?: Array<[string, string]>;
  maxSeries?: number;
  sourcesCreated?: Record<string, number>;
} = {}): CommittedView {
  const pairs = new Set(counted.map(([host, jobName]) => seriesKey(DEFAULT_METRIC, [host, jobName])));
  return {
    generation: (sourceId, generation) => {
      const state = generations[generationKey(sourceId, generation)];
      return state && { committedOffset: state.committedOffset, fileBirthMs: state.fileBirthMs ?? 0, filePath: "" };
    },
    latestEpoch: (sourceId, fileId) => latestEpochs[generationKey(sourceId, fileId)] ?? 0,
    sourceCreatedMs: (sourceId) => sourcesCreated[sourceId],
    isCounted: (metric, labels) => pairs.has(seriesKey(metric, labels)),
    seriesCount: (metric) => (metric === DEFAULT_METRIC ? pairs.size : 0),
    maxSeries,
  };
}

function batch(overrides: Partial<GroupedBatch> = {}): GroupedBatch {
  return {
    sourceId: "pod-a",
    sidecarId: "car-1",
    generation: "f#1",
    fileId: "f",
    epoch: 1,
    startOffset: 0,
    endOffset: 100,
    anchor: "aa",
    fileBirthMs: 0,
    filePath: "",
    deltas: [pairDelta("h1", "j1", 2)],
    rejected: [],
    nowMs: 1_000,
    ...overrides,
  };
}

test("two sidecars of one shared file in one group: the first applies, the second is a duplicate", () => {
  const { outcomes, writes } = decideGroup(viewOf(), [batch({ sidecarId: "car-1" }), batch({ sidecarId: "car-2" })]);
  assert.deepEqual(outcomes, [
    { decision: "apply", committedOffset: 100, refusedBySeriesLimit: [] },
    { decision: "duplicate", committedOffset: 100 },
  ]);
  assert.deepEqual([...writes.series.values()], [pairDelta("h1", "j1", 2)]);
  assert.equal(writes.countedRows, 2);
});

test("batches of one generation in one group apply in order, and a gap is out of order against the group's offset", () => {
  const view = viewOf({ generations: { [generationKey("pod-a", "f#1")]: { committedOffset: 100 } }, latestEpochs: { [generationKey("pod-a", "f")]: 1 } });
  const { outcomes, writes } = decideGroup(view, [
    batch({ startOffset: 100, endOffset: 150 }),
    batch({
      startOffset: 150,
      endOffset: 200,
      deltas: [pairDelta("h1", "j1", 1), pairDelta("h2", "j2", 4)],
    }),
    batch({ startOffset: 210, endOffset: 260 }),
    batch({ startOffset: 100, endOffset: 150 }),
  ]);
  assert.deepEqual(
    outcomes.map((outcome) => [outcome.decision, "committedOffset" in outcome ? outcome.committedOffset : undefined]),
    [
      ["apply", 150],
      ["apply", 200],
      ["out_of_order", 200],
      ["duplicate", 200],
    ],
  );
  // Merged: one write per pair, the generation written once at its last offset.
  assert.deepEqual([...writes.series.values()], [pairDelta("h1", "j1", 3), pairDelta("h2", "j2", 4)]);
  assert.deepEqual(
    [...writes.generations.values()].map((generation) => generation.committedOffset),
    [200],
  );
  assert.equal(writes.countedRows, 7);
});

test("a generation is known only as the next epoch of its file, counting epochs opened earlier in the group", () => {
  const { outcomes } = decideGroup(viewOf(), [
    batch({ generation: "f#2", epoch: 2 }),
    batch({ generation: "f#1", epoch: 1 }),
    batch({ generation: "f#2", epoch: 2, endOffset: 50 }),
    batch({ generation: "f#4", epoch: 4 }),
  ]);
  assert.deepEqual(
    outcomes.map((outcome) => outcome.decision),
    ["unknown_generation", "apply", "apply", "unknown_generation"],
  );
});

test("the series limit counts the pairs earlier batches of the group added", () => {
  const view = viewOf({ counted: [["old", "j"]], maxSeries: 3 });
  const { outcomes, writes } = decideGroup(view, [
    batch({
      sourceId: "a",
      deltas: [pairDelta("new-1", "j", 1), pairDelta("old", "j", 1)],
    }),
    batch({
      sourceId: "b",
      deltas: [pairDelta("new-1", "j", 5), pairDelta("new-2", "j", 1), pairDelta("new-3", "j", 7)],
    }),
  ]);
  assert.deepEqual(outcomes[0], { decision: "apply", committedOffset: 100, refusedBySeriesLimit: [] });
  assert.deepEqual(outcomes[1], { decision: "apply", committedOffset: 100, refusedBySeriesLimit: [pairDelta("new-3", "j", 7)] });
  assert.deepEqual(Object.fromEntries(writes.rejected), { series_limit: 7 });
  assert.deepEqual(
    [...writes.series.values()].map((pair) => [pair.labels[0], pair.count]),
    [
      ["new-1", 6],
      ["old", 1],
      ["new-2", 1],
    ],
  );
});

test("a refused batch changes nothing of the group: its rejected rows are not written", () => {
  const { outcomes, writes } = decideGroup(viewOf(), [
    batch({ rejected: [{ reason: "empty_field", count: 1 }] }),
    batch({ startOffset: 500, endOffset: 600, rejected: [{ reason: "line_too_long", count: 3 }] }),
  ]);
  assert.deepEqual(
    outcomes.map((outcome) => outcome.decision),
    ["apply", "out_of_order"],
  );
  assert.deepEqual(Object.fromEntries(writes.rejected), { empty_field: 1 });
});

test("a generation keeps the first creation time reported, and a source its creation", () => {
  const view = viewOf({
    generations: { [generationKey("pod-a", "f#1")]: { committedOffset: 100, fileBirthMs: 0 } },
    latestEpochs: { [generationKey("pod-a", "f")]: 1 },
    sourcesCreated: { "pod-a": 10 },
  });
  const { writes } = decideGroup(view, [
    batch({ startOffset: 100, endOffset: 120, fileBirthMs: 555, nowMs: 2_000, sidecarId: "car-1" }),
    batch({ startOffset: 120, endOffset: 130, fileBirthMs: 777, nowMs: 3_000, sidecarId: "car-2" }),
    batch({ sourceId: "pod-b", nowMs: 4_000 }),
  ]);
  const generation = writes.generations.get(generationKey("pod-a", "f#1"));
  assert.equal(generation?.fileBirthMs, 555);
  assert.equal(generation?.updatedMs, 3_000);
  assert.deepEqual(writes.sources.get("pod-a"), { sourceId: "pod-a", createdMs: 10, latestGeneration: "f#1", lastSeenMs: 3_000, lastSidecarId: "car-2" });
  assert.equal(writes.sources.get("pod-b")?.createdMs, 4_000);
});

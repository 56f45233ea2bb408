import { pairDelta } from "../testing/commit-batch";
import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SourceActivity } from "../ingest/source-activity";
import { describeSources } from "./source-status";
import { SqliteStore } from "../store/sqlite-store";
import { commitBatchNow } from "../testing/commit-batch";

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-source-status-"));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

let stores = 0;
function open(): { store: SqliteStore; activity: SourceActivity } {
  const store = SqliteStore.open(path.join(tempRoot, `state-${++stores}`));
  after(() => store.close());
  return { store, activity: new SourceActivity((sourceId) => store.view.allSources().has(sourceId)) };
}

function commit(store: SqliteStore, sourceId: string, generation: string, endOffset: number, nowMs = 1_000): void {
  commitBatchNow(store, {
    sourceId,
    generation,
    fileId: generation.split("#")[0]!,
    epoch: Number(generation.split("#")[1]),
    endOffset,
    anchor: "",
    fileBirthMs: 0,
    filePath: "",
    sidecarId: "car-a",
    deltas: [pairDelta("h", "j", 1)],
    rejected: [],
    nowMs,
  });
}

test("lag is the reported size minus the committed offset of the reported generation, never negative", () => {
  const { store, activity } = open();
  commit(store, "pod", "1-a#1", 100);
  activity.streamOpened("pod", "car-a");
  const [unreported] = describeSources(store, activity);
  assert.equal(unreported?.lagBytes, undefined, "no size reported: lag unknown");
  assert.equal(unreported?.fileSizeGeneration, "");

  activity.heardFrom("pod", 2_000, { generation: "1-a#1", sizeBytes: 1_000 });
  let [view] = describeSources(store, activity);
  assert.deepEqual([view?.fileSizeBytes, view?.fileSizeGeneration, view?.lagBytes, view?.lastHeartbeatMs], [1_000, "1-a#1", 900, 2_000]);

  commit(store, "pod", "1-a#1", 1_000);
  assert.equal(describeSources(store, activity)[0]?.lagBytes, 0);
  // A batch committed past the last report (another sidecar's, say): not negative.
  commit(store, "pod", "1-a#1", 1_500);
  assert.equal(describeSources(store, activity)[0]?.lagBytes, 0);

  // After a rotation the sidecar reports the next file, not yet counted at all.
  activity.heardFrom("pod", 3_000, { generation: "2-b#1", sizeBytes: 300 });
  [view] = describeSources(store, activity);
  assert.deepEqual([view?.generation, view?.fileSizeGeneration, view?.lagBytes], ["1-a#1", "2-b#1", 300]);

  // A heartbeat without a size keeps the last size.
  activity.heardFrom("pod", 4_000);
  [view] = describeSources(store, activity);
  assert.deepEqual([view?.lastHeartbeatMs, view?.fileSizeBytes], [4_000, 300]);
});

test("connected sidecars are counted per stream; a source without durable state is forgotten with its last stream", () => {
  const { store, activity } = open();
  commit(store, "durable", "1-a#1", 10);
  activity.streamOpened("durable", "car-a");
  activity.streamOpened("durable", "car-b");
  activity.streamOpened("durable", "car-a");
  activity.streamOpened("new", "car-c");
  activity.heardFrom("new", 5_000, { generation: "9-z#1", sizeBytes: 0 });
  assert.deepEqual(
    describeSources(store, activity).map((view) => [view.sourceId, view.connectedSidecarIds, view.generation]),
    [
      ["durable", ["car-a", "car-a", "car-b"], "1-a#1"],
      ["new", ["car-c"], ""],
    ],
  );
  activity.streamClosed("durable", "car-a");
  activity.streamClosed("durable", "car-b");
  activity.streamClosed("durable", "car-a");
  activity.streamClosed("new", "car-c");
  const views = describeSources(store, activity);
  assert.deepEqual(
    views.map((view) => [view.sourceId, view.connectedSidecarIds]),
    [["durable", []]],
  );
  assert.equal(views[0]?.lastSidecarId, "car-a", "the sidecar of the latest batch is remembered durably");
  assert.equal([...activity.all()].length, 1, "the source that never committed left nothing behind");
});

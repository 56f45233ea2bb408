import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { GroupedBatch } from "./batch-group";
import { GroupCommitter } from "./group-commit";
import { WriteHealth } from "./write-health";
import { StatusError } from "../errors";
import { status } from "@grpc/grpc-js";
import { createLogger } from "@logtally/runtime";
import { DEFAULT_METRIC } from "@logtally/proto";
import { pairDelta } from "../testing/commit-batch";
import { AggregatorMetrics } from "../http/metrics";
import { SourceActivity } from "./source-activity";
import { SqliteStore } from "../store/sqlite-store";

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-group-commit-"));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

let stores = 0;
const silent = createLogger("test", "silent");

function committer(): { store: SqliteStore; metrics: AggregatorMetrics; committer: GroupCommitter; health: WriteHealth } {
  const store = SqliteStore.open(path.join(tempRoot, `state-${++stores}`));
  const metrics = new AggregatorMetrics(store, new SourceActivity(() => true));
  const health = new WriteHealth(
    () => store.probeWrite(),
    silent,
    () => undefined,
  );
  return { store, metrics, health, committer: new GroupCommitter(store, metrics, health) };
}

function batch(sidecarId: string, startOffset: number, endOffset: number, count: number): GroupedBatch {
  return {
    sourceId: "pod-a",
    sidecarId,
    generation: "app.log#1",
    fileId: "app.log",
    epoch: 1,
    startOffset,
    endOffset,
    anchor: "aa",
    fileBirthMs: 0,
    filePath: "",
    deltas: [pairDelta("web-1", "backup", count)],
    rejected: [],
    nowMs: 1_000,
  };
}

async function groupSizes(metrics: AggregatorMetrics): Promise<{ groups: number; batches: number }> {
  const values = (await metrics.commitGroupBatches.get()).values;
  return {
    groups: values.find((value) => value.metricName === "logtally_commit_group_batches_count")!.value,
    batches: values.find((value) => value.metricName === "logtally_commit_group_batches_sum")!.value,
  };
}

test("batches submitted in one turn are committed as one group, each decided in order", async () => {
  const { store, metrics, committer: group } = committer();
  try {
    // Two sidecars of one shared file send the same range: one is applied, the other is its duplicate.
    const outcomes = await Promise.all([
      group.submit(batch("sidecar-1", 0, 100, 3)),
      group.submit(batch("sidecar-2", 0, 100, 3)),
      group.submit(batch("sidecar-1", 100, 200, 4)),
    ]);
    assert.deepEqual(
      outcomes.map((outcome) => [outcome.decision, "committedOffset" in outcome ? outcome.committedOffset : undefined]),
      [
        ["apply", 100],
        ["duplicate", 100],
        ["apply", 200],
      ],
    );
    assert.equal(store.view.seriesOf(DEFAULT_METRIC, ["web-1", "backup"])?.count, 7);
    assert.deepEqual(await groupSizes(metrics), { groups: 1, batches: 3 });
  } finally {
    store.close();
  }
});

test("batches submitted in separate turns are separate groups", async () => {
  const { store, metrics, committer: group } = committer();
  try {
    await group.submit(batch("sidecar-1", 0, 100, 1));
    await group.submit(batch("sidecar-1", 100, 200, 1));
    assert.deepEqual(await groupSizes(metrics), { groups: 2, batches: 2 });
    assert.equal(store.view.generation("pod-a", "app.log#1")?.committedOffset, 200);
  } finally {
    store.close();
  }
});

test("flush commits what is queued at once, without waiting for the turn to end", async () => {
  const { store, committer: group } = committer();
  try {
    void group.submit(batch("sidecar-1", 0, 100, 1));
    await group.flush();
    assert.equal(store.view.generation("pod-a", "app.log#1")?.committedOffset, 100);
  } finally {
    store.close();
  }
});

test("a failed commit rejects every batch of the group and commits none of them", async () => {
  const { store, committer: group } = committer();
  const pending = [group.submit(batch("sidecar-1", 0, 100, 1)), group.submit(batch("sidecar-2", 0, 50, 1))];
  store.close();
  const results = await Promise.allSettled(pending);
  assert.deepEqual(
    results.map((result) => result.status),
    ["rejected", "rejected"],
  );
});

test("while the state cannot be written, groups are refused with the reason and nothing is counted; a commit that works again clears it", async () => {
  const { store, committer: group, health } = committer();
  try {
    const commitGroup = store.commitGroup.bind(store);
    // The disk fills: the next commit fails as node:sqlite reports it (SQLITE_FULL).
    store.commitGroup = async () => {
      throw Object.assign(new Error("database or disk is full"), { code: "ERR_SQLITE_ERROR", errcode: 13 });
    };
    const refused = await Promise.allSettled([group.submit(batch("sidecar-1", 0, 100, 1))]);
    assert.equal(refused[0]!.status, "rejected");
    const error = (refused[0] as PromiseRejectedResult).reason as StatusError;
    assert.ok(error instanceof StatusError);
    assert.equal(error.code, status.RESOURCE_EXHAUSTED);
    assert.match(error.message, /^state database is disk full: nothing was counted/);
    assert.equal(health.writable, false);
    // Space is back, but batches are refused without a try until the probe says so.
    store.commitGroup = commitGroup;
    await assert.rejects(group.submit(batch("sidecar-1", 0, 100, 1)), /disk full/);
    assert.equal(store.view.generation("pod-a", "app.log#1"), undefined, "nothing was counted");
    await health.start();
    assert.equal(health.writable, true);
    assert.equal((await group.submit(batch("sidecar-1", 0, 100, 1))).decision, "apply");
  } finally {
    health.stop();
    store.close();
  }
});

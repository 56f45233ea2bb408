import * as assert from "node:assert/strict";
import { DEFAULT_METRIC } from "@logtally/proto";
import type { GroupedBatch, GroupOutcome } from "../ingest/batch-group";
import type { SeriesDelta } from "../ingest/series-limit";
import type { SqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";

/** A delta of the pair (host, jobName) of log_host_job_count. */
export function pairDelta(host: string, jobName: string, count: number): SeriesDelta {
  return { metric: DEFAULT_METRIC, labels: [host, jobName], count };
}

/** A batch for {@link commitBatch}: its start defaults to the generation's committed offset. */
export type TestBatch = Omit<GroupedBatch, "startOffset"> & { readonly startOffset?: number };

/** A batch of `app.log#1` of source `pod-a` up to offset 100, two pairs and a rejected line; `overrides` replace any of it. */
export function testBatch(overrides: Partial<TestBatch> = {}): TestBatch {
  return {
    sourceId: "pod-a",
    generation: "app.log#1",
    fileId: "app.log",
    epoch: 1,
    endOffset: 100,
    anchor: "aa",
    fileBirthMs: 0,
    filePath: "/var/log/app.log",
    sidecarId: "sidecar-1",
    deltas: [pairDelta("web-1", "backup", 3), pairDelta("web-2", "backup", 2)],
    rejected: [{ reason: "empty_field", count: 1 }],
    nowMs: 1_000,
    ...overrides,
  };
}

/**
 * Commits one batch as a group of its own, starting at its generation's
 * committed offset unless told otherwise, and checks that the ledger applied
 * it. Throws what the store throws when the transaction fails.
 */
export async function commitBatch(store: Store, batch: TestBatch): Promise<Extract<GroupOutcome, { decision: "apply" }>> {
  const startOffset = batch.startOffset ?? store.view.generation(batch.sourceId, batch.generation)?.committedOffset ?? 0;
  const [outcome] = await store.commitGroup([{ ...batch, startOffset }]);
  assert.ok(outcome?.decision === "apply", `batch of ${batch.generation} up to ${batch.endOffset} was not applied: ${JSON.stringify(outcome)}`);
  return outcome;
}

/** commitBatch() on the embedded store, synchronously. */
export function commitBatchNow(store: SqliteStore, batch: TestBatch): Extract<GroupOutcome, { decision: "apply" }> {
  const startOffset = batch.startOffset ?? store.view.generation(batch.sourceId, batch.generation)?.committedOffset ?? 0;
  const [outcome] = store.commitGroupNow([{ ...batch, startOffset }]);
  assert.ok(outcome?.decision === "apply", `batch of ${batch.generation} up to ${batch.endOffset} was not applied: ${JSON.stringify(outcome)}`);
  return outcome;
}

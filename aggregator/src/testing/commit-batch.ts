import * as assert from "node:assert/strict";
import type { GroupedBatch, GroupOutcome } from "../ingest/batch-group";
import type { SqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";

/** A batch for {@link commitBatch}: its start defaults to the generation's committed offset. */
export type TestBatch = Omit<GroupedBatch, "startOffset"> & { readonly startOffset?: number };

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

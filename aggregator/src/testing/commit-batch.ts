import * as assert from "node:assert/strict";
import type { GroupedBatch, GroupOutcome } from "../ingest/batch-group";
import type { CountStore } from "../store/count-store";

/** A batch for {@link commitBatch}: its start defaults to the generation's committed offset. */
export type TestBatch = Omit<GroupedBatch, "startOffset"> & { readonly startOffset?: number };

/**
 * Commits one batch as a group of its own, starting at its generation's
 * committed offset unless told otherwise, and checks that the ledger applied
 * it. Throws what the store throws when the transaction fails.
 */
export function commitBatch(store: CountStore, batch: TestBatch): Extract<GroupOutcome, { decision: "apply" }> {
  const startOffset = batch.startOffset ?? store.view.generation(batch.sourceId, batch.generation)?.committedOffset ?? 0;
  const [outcome] = store.commitGroup([{ ...batch, startOffset }]);
  assert.ok(outcome?.decision === "apply", `batch of ${batch.generation} up to ${batch.endOffset} was not applied: ${JSON.stringify(outcome)}`);
  return outcome;
}

import { StatusError } from "../errors";
import type { AggregatorMetrics } from "../http/metrics";
import type { CountStore } from "../store/count-store";
import { describeWriteFailure } from "../store/write-failure";
import type { GroupedBatch, GroupOutcome } from "./batch-group";
import type { WriteHealth } from "./write-health";

interface Queued {
  readonly batch: GroupedBatch;
  resolve(outcome: GroupOutcome): void;
  reject(error: unknown): void;
}

/**
 * Group commit: batches that arrive from many streams at the same moment are
 * committed in one transaction, and so one fsync, instead of one each.
 *
 * A batch submitted waits for the end of the current turn of the event loop;
 * then everything submitted meanwhile is committed together. No timer holds a
 * batch back: while one group's commit blocks the loop on its fsync, the
 * batches arriving pile up in the sockets and form the next group, so groups
 * grow with the load by themselves. Each batch is still decided on its own
 * (see batch-group.ts), and its promise settles only once the group is
 * durable: an acknowledgement never gets ahead of the disk.
 *
 * While the state cannot be written (read-only, disk full, I/O errors; see
 * WriteHealth), groups are refused at once with the reason, as
 * UNAVAILABLE or RESOURCE_EXHAUSTED, and nothing is counted.
 */
export class GroupCommitter {
  private queue: Queued[] = [];
  private scheduled: NodeJS.Immediate | undefined;

  constructor(
    private readonly store: CountStore,
    private readonly metrics: AggregatorMetrics,
    private readonly health: WriteHealth,
  ) {}

  /** Queues a batch for the next group; resolves with its outcome once durable, rejects if the group's commit failed. */
  submit(batch: GroupedBatch): Promise<GroupOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits what is queued now, without waiting for the end of the turn (before the store closes). */
  flush(): void {
    clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const group = this.queue;
    if (group.length === 0) return;
    this.queue = [];
    const unwritable = this.health.current;
    if (unwritable) {
      for (const queued of group) queued.reject(new StatusError(unwritable.code, unwritable.message));
      return;
    }
    const stopTimer = this.metrics.commitSeconds.startTimer();
    let outcomes: GroupOutcome[];
    try {
      outcomes = this.store.commitGroup(group.map((queued) => queued.batch));
    } catch (error) {
      const failure = describeWriteFailure(error);
      if (failure) this.health.failed(failure);
      const refusal = failure ? new StatusError(failure.code, failure.message, { cause: error }) : error;
      for (const queued of group) queued.reject(refusal);
      return;
    }
    this.health.succeeded();
    if (outcomes.some((outcome) => outcome.decision === "apply")) stopTimer();
    this.metrics.commitGroupBatches.observe(group.length);
    group.forEach((queued, index) => queued.resolve(outcomes[index]!));
  }
}

import type { AggregatorMetrics } from "../http/metrics";
import type { Store } from "../store/store";
import { describeWriteFailure, refusalFor } from "../store/write-failure";
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
 * batch back: while one group is being committed (blocking the loop on its
 * fsync with SQLite, waiting for the database server with PostgreSQL), the
 * batches arriving pile up and form the next group, so groups grow with the
 * load by themselves. Each batch is still decided on its own
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
  /** The group being committed, if any: the next waits for it, so groups commit in order. */
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly metrics: AggregatorMetrics,
    private readonly health: WriteHealth,
  ) {}

  /** Queues a batch for the next group; resolves with its outcome once durable, rejects if the group's commit failed. */
  submit(batch: GroupedBatch): Promise<GroupOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      this.schedule();
    });
  }

  /** Commits everything queued, also what is queued meanwhile (before the store closes). */
  async flush(): Promise<void> {
    clearImmediate(this.scheduled);
    this.scheduled = undefined;
    while (this.inFlight || this.queue.length > 0) {
      await (this.inFlight ?? this.commitNext());
    }
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      void this.commitNext();
    });
  }

  /** Commits what is queued now as one group; what arrives meanwhile forms the next. */
  private commitNext(): Promise<void> {
    const group = this.queue;
    this.queue = [];
    this.inFlight = this.commit(group).finally(() => {
      this.inFlight = undefined;
      if (this.queue.length > 0) this.schedule();
    });
    return this.inFlight;
  }

  private async commit(group: readonly Queued[]): Promise<void> {
    if (group.length === 0) return;
    const unwritable = this.health.current;
    if (unwritable) {
      for (const queued of group) queued.reject(refusalFor(unwritable));
      return;
    }
    const stopTimer = this.metrics.commitSeconds.startTimer();
    let outcomes: GroupOutcome[];
    try {
      outcomes = await this.store.commitGroup(group.map((queued) => queued.batch));
    } catch (error) {
      const failure = describeWriteFailure(error);
      if (failure) this.health.failed(failure);
      const refusal = failure ? refusalFor(failure, error) : error;
      for (const queued of group) queued.reject(refusal);
      return;
    }
    this.health.succeeded();
    if (outcomes.some((outcome) => outcome.decision === "apply")) stopTimer();
    this.metrics.commitGroupBatches.observe(group.length);
    group.forEach((queued, index) => queued.resolve(outcomes[index]!));
  }
}

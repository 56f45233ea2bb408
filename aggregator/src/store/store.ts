import type { CountingSpec } from "@logtally/proto";
import type { GroupedBatch, GroupOutcome } from "../ingest/batch-group";
import type { MetricRegistration } from "../ingest/metric-registration";
import type { CountView, SeriesCount } from "./count-view";

/** What one committed change of the state did to the counts, as the view holds them now. */
export interface CommittedChange {
  /** The series whose totals changed, with their new totals: live objects, read them before the next change. */
  readonly changed: ReadonlyArray<Readonly<SeriesCount>>;
}

/** How a store is opened. */
export interface StoreOptions {
  /** Most series counted per metric; see series-limit.ts. Default {@link DEFAULT_MAX_SERIES}. */
  readonly maxSeries?: number;
}

/** Default of {@link StoreOptions.maxSeries}. */
export const DEFAULT_MAX_SERIES = 1_000_000;

/**
 * The aggregator's durable state, whatever engine keeps it: the embedded
 * SQLite database of one aggregator, or a PostgreSQL database that several
 * share. The exactly-once rules are not here but in batch-group.ts and
 * ledger.ts, which every engine runs inside its transaction.
 *
 * Reads go to `view`, the committed state in memory, which only ever holds
 * committed rows. With a shared database other aggregators commit too:
 * refresh() brings the view up to date, and every read that must not go
 * backwards (a scrape, a Welcome) refreshes first.
 *
 * Lifecycle: open() before anything else, close() last.
 */
export interface Store {
  readonly view: CountView;
  /** Where the state is, for logs (never a password). */
  readonly location: string;
  /** Connects and loads the view; throws StateError when the state cannot be used. */
  open(): Promise<void>;
  /**
   * Decides each batch of a group by the ledger's rules against the state
   * as committed, commits what the applied ones change in one durable
   * transaction, then updates the view. Returns one outcome per batch, in
   * order. Throws, committing none of them, when the transaction fails.
   */
  commitGroup(group: readonly GroupedBatch[]): Promise<GroupOutcome[]>;
  /**
   * Counts `spec`'s metric from now on (a spec checked with
   * checkCountingSpec): registers it, durably and in the view, when the
   * state has no metric of its name; the first spec counted under a name
   * fixes its labels for good, so a spec with other labels is a `conflict`.
   * Decided and written where no registration or commit of any aggregator
   * comes between: of two registering one new metric at once, exactly one
   * registers it. Throws, registering nothing, when the state cannot be written.
   */
  registerMetric(spec: CountingSpec): Promise<MetricRegistration>;
  /** Brings the view up to what the database holds now (other aggregators' commits). */
  refresh(): Promise<void>;
  /**
   * Calls `listener` after every change of the view that changed a count,
   * in order, synchronously: it must not throw, and must be quick. Returns
   * the unsubscribe.
   */
  onCommit(listener: (change: CommittedChange) => void): () => void;
  /** Proves the state can be written now: throws what a commit would (see write-failure.ts). */
  probeWrite(): Promise<void>;
  /** Closes the database; idempotent. */
  close(): Promise<void>;
}

/** The commit listeners of a store. */
export class CommitListeners {
  private readonly listeners = new Set<(change: CommittedChange) => void>();

  add(listener: (change: CommittedChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every listener of `changed`, if it holds anything. */
  notify(changed: ReadonlyArray<Readonly<SeriesCount>>): void {
    if (changed.length === 0) return;
    const change: CommittedChange = { changed };
    for (const listener of this.listeners) listener(change);
  }
}

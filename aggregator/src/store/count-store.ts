import { decideGroup, type GroupedBatch, type GroupOutcome } from "../ingest/batch-group";
import { CountView, type PairCount } from "./count-view";
import { StateDatabase } from "./state-database";

/** What one committed group of batches changed, as the view holds it now. */
export interface CommittedChange {
  /** The pairs the group counted, with their new totals: live objects, read them before the next commit. */
  readonly changed: ReadonlyArray<Readonly<PairCount>>;
}

/** How a store is opened. */
export interface StoreOptions {
  /** Most pairs counted; see series-limit.ts. Default {@link DEFAULT_MAX_SERIES}. */
  readonly maxSeries?: number;
}

/** Default of {@link StoreOptions.maxSeries}. */
export const DEFAULT_MAX_SERIES = 1_000_000;

/**
 * The aggregator's state: the durable database and the view of it in
 * memory, moved together. A group of batches is decided against the view,
 * its rows are written in one transaction (counts, offsets and the series
 * limit's decisions move together or not at all), and only then does the
 * view take them and the commit listeners hear of them.
 *
 * Reads go to `view`, which only ever holds committed state.
 */
export class CountStore {
  private readonly commitListeners = new Set<(change: CommittedChange) => void>();

  private constructor(
    private readonly database: StateDatabase,
    readonly view: CountView,
  ) {}

  /** Opens the state in `stateDir` (see StateDatabase.open) and loads the view from it. */
  static open(stateDir: string, { maxSeries = DEFAULT_MAX_SERIES }: StoreOptions = {}): CountStore {
    const database = StateDatabase.open(stateDir);
    try {
      return new CountStore(database, new CountView(database.load(), maxSeries));
    } catch (error) {
      database.close();
      throw error;
    }
  }

  /** Path of the database file. */
  get databasePath(): string {
    return this.database.path;
  }

  /**
   * Decides each batch of a group by the ledger's rules (see batch-group.ts),
   * commits what the applied ones change in one durable transaction, then
   * updates the view and tells the commit listeners. Returns one outcome per
   * batch, in order. Throws, changing nothing on disk or in memory, when the
   * transaction fails: no batch of the group is committed.
   */
  commitGroup(group: readonly GroupedBatch[]): GroupOutcome[] {
    const { outcomes, writes } = decideGroup(this.view, group);
    if (writes.generations.size === 0) return [...outcomes];
    const rows = this.view.next(writes);
    this.database.write(rows);
    const changed = this.view.apply(rows);
    if (changed.length > 0) {
      const committed: CommittedChange = { changed };
      for (const listener of this.commitListeners) listener(committed);
    }
    return [...outcomes];
  }

  /**
   * Calls `listener` after every committed group that changed a count, in
   * commit order, synchronously: it must not throw, and must be quick, since
   * the group is acknowledged after it returns. Returns the unsubscribe.
   */
  onCommit(listener: (change: CommittedChange) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Proves the database can be written now: throws what a commit would (see write-failure.ts). */
  probeWrite(): void {
    this.database.probeWrite();
  }

  /** Closes the database; idempotent. */
  close(): void {
    this.database.close();
  }
}

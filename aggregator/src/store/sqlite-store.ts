import { decideGroup, type GroupedBatch, type GroupOutcome } from "../ingest/batch-group";
import { CountView } from "./count-view";
import { StateDatabase } from "./state-database";
import { CommitListeners, DEFAULT_MAX_SERIES, type CommittedChange, type Store, type StoreOptions } from "./store";

/**
 * The embedded store of one aggregator: a SQLite database in the state
 * directory, locked by the process (see StateDatabase), and the view of it
 * in memory, moved together. No one else writes the database, so the view is
 * the committed state: a group of batches is decided against it, its rows
 * are written in one transaction (counts, offsets and the series limit's
 * decisions move together or not at all), and only then does the view take
 * them and the commit listeners hear of them.
 */
export class SqliteStore implements Store {
  private readonly listeners = new CommitListeners();

  private constructor(
    private readonly database: StateDatabase,
    readonly view: CountView,
  ) {}

  /** Opens the state in `stateDir` (see StateDatabase.open) and loads the view from it; throws StateError. */
  static open(stateDir: string, { maxSeries = DEFAULT_MAX_SERIES }: StoreOptions = {}): SqliteStore {
    const database = StateDatabase.open(stateDir);
    try {
      return new SqliteStore(database, new CountView(database.load(), maxSeries));
    } catch (error) {
      database.close();
      throw error;
    }
  }

  /** Path of the database file. */
  get location(): string {
    return this.database.path;
  }

  /** Opened already by SqliteStore.open(), synchronously, so that a bad state stops the process before it listens. */
  async open(): Promise<void> {}

  /** Commits as commitGroupNow() does; a large group is written in slices, letting scrapes through (see StateDatabase.writeInSlices). */
  async commitGroup(group: readonly GroupedBatch[]): Promise<GroupOutcome[]> {
    const { outcomes, writes } = decideGroup(this.view, group);
    if (writes.generations.size === 0) return [...outcomes];
    const rows = this.view.next(writes);
    await this.database.writeInSlices(rows);
    this.listeners.notify(this.view.apply(rows));
    return [...outcomes];
  }

  /** commitGroup(), synchronously: the transaction and its fsync block the event loop. */
  commitGroupNow(group: readonly GroupedBatch[]): GroupOutcome[] {
    const { outcomes, writes } = decideGroup(this.view, group);
    if (writes.generations.size === 0) return [...outcomes];
    const rows = this.view.next(writes);
    this.database.write(rows);
    this.listeners.notify(this.view.apply(rows));
    return [...outcomes];
  }

  /** The view is the committed state: nothing to catch up with. */
  async refresh(): Promise<void> {}

  onCommit(listener: (change: CommittedChange) => void): () => void {
    return this.listeners.add(listener);
  }

  async probeWrite(): Promise<void> {
    this.database.probeWrite();
  }

  async close(): Promise<void> {
    this.database.close();
  }
}

import type { CountingSpec } from "@logtally/proto";
import { decideGroup, type GroupedBatch, type GroupOutcome } from "../ingest/batch-group";
import { decideRegistration, type MetricRegistration } from "../ingest/metric-registration";
import { CountView, NO_ROWS } from "./count-view";
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
  /** A group being written in slices: its transaction stays open across turns, and no other write may enter it. */
  private slicedWrite: Promise<void> | undefined;

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
    const written = this.database.writeInSlices(rows);
    this.slicedWrite = written.then(
      () => undefined,
      () => undefined,
    );
    try {
      await written;
    } finally {
      this.slicedWrite = undefined;
    }
    this.listeners.notify(this.view.apply(rows));
    return [...outcomes];
  }

  /**
   * Registers as Store.registerMetric() says. Only this process writes the
   * state, so the view is what is committed: the decision and its write
   * happen in one turn, after any group still being written in slices.
   */
  async registerMetric(spec: CountingSpec): Promise<MetricRegistration> {
    while (this.slicedWrite) await this.slicedWrite;
    return this.registerMetricNow(spec);
  }

  /** registerMetric(), synchronously; must not be called while commitGroup() is writing. */
  registerMetricNow(spec: CountingSpec): MetricRegistration {
    const registration = decideRegistration(this.view.metric(spec.metric)?.definition, spec);
    if (registration.outcome !== "registered") return registration;
    const rows = { ...NO_ROWS, metrics: [registration.definition] };
    this.database.write(rows);
    this.view.apply(rows);
    return registration;
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

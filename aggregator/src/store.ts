import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";
import { normalizeRejectReason, type RejectReason } from "@logtally/proto";
import { StateError } from "./errors";
import { decideGroup, generationKey, type CommittedView, type GroupedBatch, type GroupOutcome, type GroupWrites } from "./batch-group";
import { pairKey } from "./ledger";

/** Name of the SQLite file inside the state directory. */
export const DATABASE_FILE = "logtally.db";

/** Counted rows of one (host, job_name) pair. */
export interface PairCount {
  readonly host: string;
  readonly jobName: string;
  count: number;
}

/** Committed progress of one file generation of one source. */
export interface GenerationState {
  readonly sourceId: string;
  readonly generation: string;
  readonly fileId: string;
  readonly epoch: number;
  committedOffset: number;
  anchor: string;
  updatedMs: number;
  /** Creation time of the file counted, as first reported; 0 when unknown. */
  fileBirthMs: number;
}

/** What one committed group of batches changed, as the in-memory view holds it now. */
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

/** Source-level facts kept for inspection. */
export interface SourceState {
  readonly sourceId: string;
  /** When the source's first batch was applied: where the source begins. */
  readonly createdMs: number;
  latestGeneration: string;
  lastSeenMs: number;
  lastSidecarId: string;
}

/**
 * Durable state in SQLite, mirrored in memory for reads.
 *
 * Durability: WAL with synchronous=FULL, so a transaction is on disk when
 * commit returns and the acknowledgement that follows it never promises more
 * than the disk holds, even across a power loss. Every batch is one
 * transaction: the counts and the generation's committed offset move together
 * or not at all, and so does the series limit's decision on the batch.
 */
export class CountStore implements CommittedView {
  private readonly db: Database.Database;
  private readonly counts = new Map<string, PairCount>();
  private readonly generations = new Map<string, GenerationState>();
  private readonly latestEpochs = new Map<string, number>();
  private readonly sources = new Map<string, SourceState>();
  private readonly rejectedRows = new Map<RejectReason, number>();
  private countedRows = 0;
  private readonly commitListeners = new Set<(change: CommittedChange) => void>();
  private readonly writeTransaction: (writes: GroupWrites) => void;
  private closed = false;

  private constructor(
    db: Database.Database,
    readonly databasePath: string,
    /** Most pairs counted. */
    readonly maxSeries: number,
  ) {
    this.db = db;
    const addCount = db.prepare(
      "INSERT INTO counts (host, job_name, count) VALUES (?, ?, ?) " +
        "ON CONFLICT (host, job_name) DO UPDATE SET count = count + excluded.count",
    );
    const setGeneration = db.prepare(
      "INSERT INTO generations (source_id, generation, file_id, epoch, committed_offset, anchor, updated_ms, file_birth_ms) " +
        "VALUES (@sourceId, @generation, @fileId, @epoch, @committedOffset, @anchor, @updatedMs, @fileBirthMs) " +
        "ON CONFLICT (source_id, generation) DO UPDATE SET committed_offset = excluded.committed_offset, " +
        "anchor = excluded.anchor, updated_ms = excluded.updated_ms, file_birth_ms = excluded.file_birth_ms",
    );
    const setSource = db.prepare(
      "INSERT INTO sources (source_id, created_ms, latest_generation, last_seen_ms, last_sidecar_id) " +
        "VALUES (@sourceId, @createdMs, @latestGeneration, @lastSeenMs, @lastSidecarId) " +
        "ON CONFLICT (source_id) DO UPDATE SET latest_generation = excluded.latest_generation, " +
        "last_seen_ms = excluded.last_seen_ms, last_sidecar_id = excluded.last_sidecar_id",
    );
    const addRejected = db.prepare(
      "INSERT INTO rejected_rows (reason, count) VALUES (?, ?) " +
        "ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
    );
    this.writeTransaction = db.transaction((writes: GroupWrites) => {
      for (const delta of writes.pairs.values()) addCount.run(delta.host, delta.jobName, delta.count);
      for (const [reason, count] of writes.rejected) addRejected.run(reason, count);
      for (const generation of writes.generations.values()) setGeneration.run(generation);
      for (const source of writes.sources.values()) setSource.run(source);
    });
  }

  /**
   * Opens (creating if needed) the state in `stateDir`. Throws StateError,
   * naming the file, when it cannot be read or fails its integrity check:
   * starting from zero instead would silently lose every count.
   */
  static open(stateDir: string, { maxSeries = DEFAULT_MAX_SERIES }: StoreOptions = {}): CountStore {
    const databasePath = path.resolve(stateDir, DATABASE_FILE);
    try {
      fs.mkdirSync(stateDir, { recursive: true });
    } catch (cause) {
      throw new StateError(`cannot create state directory ${path.resolve(stateDir)}`, stateDir, { cause });
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(databasePath);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 5000");
      const check = db.pragma("quick_check", { simple: true });
      if (check !== "ok") throw new Error(`integrity check reported: ${String(check)}`);
      migrate(db);
      const store = new CountStore(db, databasePath, maxSeries);
      store.load();
      return store;
    } catch (cause) {
      db?.close();
      if (cause instanceof StateError) throw cause;
      throw new StateError(
        `cannot use state database ${databasePath}: ${(cause as Error).message}. ` +
          "Restore it from a backup, or move it aside to start counting from zero.",
        databasePath,
        { cause },
      );
    }
  }

  private load(): void {
    for (const row of this.db.prepare("SELECT host, job_name, count FROM counts").iterate() as Iterable<{
      host: string;
      job_name: string;
      count: number;
    }>) {
      this.counts.set(pairKey(row.host, row.job_name), { host: row.host, jobName: row.job_name, count: row.count });
      this.countedRows += row.count;
    }
    for (const row of this.db
      .prepare("SELECT source_id, generation, file_id, epoch, committed_offset, anchor, updated_ms, file_birth_ms FROM generations")
      .iterate() as Iterable<{
      source_id: string;
      generation: string;
      file_id: string;
      epoch: number;
      committed_offset: number;
      anchor: string;
      updated_ms: number;
      file_birth_ms: number;
    }>) {
      this.rememberGeneration({
        sourceId: row.source_id,
        generation: row.generation,
        fileId: row.file_id,
        epoch: row.epoch,
        committedOffset: row.committed_offset,
        anchor: row.anchor,
        updatedMs: row.updated_ms,
        fileBirthMs: row.file_birth_ms,
      });
    }
    for (const row of this.db
      .prepare("SELECT source_id, created_ms, latest_generation, last_seen_ms, last_sidecar_id FROM sources")
      .iterate() as Iterable<{ source_id: string; created_ms: number; latest_generation: string; last_seen_ms: number; last_sidecar_id: string }>) {
      this.sources.set(row.source_id, {
        sourceId: row.source_id,
        createdMs: row.created_ms,
        latestGeneration: row.latest_generation,
        lastSeenMs: row.last_seen_ms,
        lastSidecarId: row.last_sidecar_id,
      });
    }
    for (const row of this.db.prepare("SELECT reason, count FROM rejected_rows").iterate() as Iterable<{
      reason: string;
      count: number;
    }>) {
      this.rejectedRows.set(normalizeRejectReason(row.reason), row.count);
    }
  }

  /**
   * Decides each batch of a group by the ledger's rules (see batch-group.ts),
   * commits what the applied ones change in one durable transaction, then
   * updates the in-memory view and tells the commit listeners. Returns one
   * outcome per batch, in order. Throws, changing nothing on disk or in
   * memory, when the transaction fails: no batch of the group is committed.
   */
  commitGroup(group: readonly GroupedBatch[]): GroupOutcome[] {
    this.assertOpen();
    const { outcomes, writes } = decideGroup(this, group);
    if (writes.generations.size > 0) this.commit(writes);
    return [...outcomes];
  }

  private commit(writes: GroupWrites): void {
    this.writeTransaction(writes);
    const changed: Array<Readonly<PairCount>> = [];
    for (const [key, delta] of writes.pairs) {
      let pair = this.counts.get(key);
      if (pair) pair.count += delta.count;
      else this.counts.set(key, (pair = { host: delta.host, jobName: delta.jobName, count: delta.count }));
      changed.push(pair);
    }
    this.countedRows += writes.countedRows;
    for (const [reason, count] of writes.rejected) this.rejectedRows.set(reason, (this.rejectedRows.get(reason) ?? 0) + count);
    for (const generation of writes.generations.values()) this.rememberGeneration({ ...generation });
    for (const source of writes.sources.values()) this.sources.set(source.sourceId, { ...source });
    if (changed.length === 0) return;
    const committed: CommittedChange = { changed };
    for (const listener of this.commitListeners) listener(committed);
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

  private rememberGeneration(state: GenerationState): void {
    const key = generationKey(state.sourceId, state.generation);
    const existing = this.generations.get(key);
    if (existing) Object.assign(existing, state);
    else this.generations.set(key, state);
    const fileKey = generationKey(state.sourceId, state.fileId);
    if ((this.latestEpochs.get(fileKey) ?? 0) < state.epoch) this.latestEpochs.set(fileKey, state.epoch);
  }

  /** The generation's committed state, or undefined if no batch of it was ever applied. */
  generation(sourceId: string, generation: string): GenerationState | undefined {
    return this.generations.get(generationKey(sourceId, generation));
  }

  /** Highest epoch applied for a file of a source; 0 when none. */
  latestEpoch(sourceId: string, fileId: string): number {
    return this.latestEpochs.get(generationKey(sourceId, fileId)) ?? 0;
  }

  /** When the source's first batch was applied; undefined for a source never applied. */
  sourceCreatedMs(sourceId: string): number | undefined {
    return this.sources.get(sourceId)?.createdMs;
  }

  /** Whether a (host, job_name) pair is counted. */
  isCounted(host: string, jobName: string): boolean {
    return this.counts.has(pairKey(host, jobName));
  }

  /** Distinct pairs counted. */
  get seriesCount(): number {
    return this.counts.size;
  }

  /** Records that a source was heard from without a durable change (not persisted). */
  touchSource(sourceId: string, sidecarId: string, nowMs: number): void {
    const source = this.sources.get(sourceId);
    if (!source) return;
    source.lastSeenMs = nowMs;
    source.lastSidecarId = sidecarId;
  }

  /** Every pair's count; the map is live, callers must not modify it. */
  allCounts(): ReadonlyMap<string, Readonly<PairCount>> {
    return this.counts;
  }

  /** Rows counted in total, over every pair. */
  totalCounted(): number {
    return this.countedRows;
  }

  /** Every known source. */
  allSources(): ReadonlyMap<string, Readonly<SourceState>> {
    return this.sources;
  }

  /** Every generation of every source. */
  allGenerations(): Iterable<Readonly<GenerationState>> {
    return this.generations.values();
  }

  /** Rows the sidecars reported as not counted, by reason, since the state began. */
  rejectedByReason(): ReadonlyMap<RejectReason, number> {
    return this.rejectedRows;
  }

  /** Closes the database; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("store is closed");
  }
}

/** Schema changes, each taking the database from version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `
    CREATE TABLE counts (
      host TEXT NOT NULL,
      job_name TEXT NOT NULL,
      count INTEGER NOT NULL CHECK (count >= 0),
      PRIMARY KEY (host, job_name)
    ) WITHOUT ROWID;
    CREATE TABLE generations (
      source_id TEXT NOT NULL,
      generation TEXT NOT NULL,
      file_id TEXT NOT NULL,
      epoch INTEGER NOT NULL,
      committed_offset INTEGER NOT NULL CHECK (committed_offset >= 0),
      anchor TEXT NOT NULL,
      updated_ms INTEGER NOT NULL,
      PRIMARY KEY (source_id, generation)
    ) WITHOUT ROWID;
    CREATE TABLE sources (
      source_id TEXT PRIMARY KEY,
      created_ms INTEGER NOT NULL,
      latest_generation TEXT NOT NULL,
      last_seen_ms INTEGER NOT NULL,
      last_sidecar_id TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE rejected_rows (
      reason TEXT PRIMARY KEY,
      count INTEGER NOT NULL
    ) WITHOUT ROWID;
  `,
  `
    ALTER TABLE generations ADD COLUMN file_birth_ms REAL NOT NULL DEFAULT 0;
  `,
];

const SCHEMA_VERSION = MIGRATIONS.length;

function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`schema version ${version} is newer than this aggregator understands (${SCHEMA_VERSION})`);
  }
  for (let next = version; next < SCHEMA_VERSION; next++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[next]!);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}

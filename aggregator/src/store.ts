import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";
import { normalizeRejectReason, type RejectReason } from "@logtally/proto";
import { StateError } from "./errors";
import { pairKey } from "./ledger";
import { splitBySeriesLimit, type PairDelta, type SeriesSplit } from "./series-limit";

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

/** What one applied batch changes, all in one transaction. */
export interface BatchChange {
  readonly sourceId: string;
  readonly generation: string;
  readonly fileId: string;
  readonly epoch: number;
  readonly endOffset: number;
  readonly anchor: string;
  readonly fileBirthMs: number;
  readonly sidecarId: string;
  readonly deltas: ReadonlyArray<{ host: string; jobName: string; count: number }>;
  readonly rejected: ReadonlyArray<{ reason: string; count: number }>;
  readonly nowMs: number;
}

/** What one committed batch changed, as the in-memory view holds it now. */
export interface CommittedChange {
  readonly sourceId: string;
  readonly generation: string;
  /** The pairs the batch counted, with their new totals: live objects, read them before the next commit. */
  readonly changed: ReadonlyArray<Readonly<PairCount>>;
}

/** What applying a batch did with its deltas. */
export interface AppliedBatch {
  /** Deltas of new pairs not counted because `maxSeries` pairs exist (their rows are rejected as series_limit). */
  readonly refusedBySeriesLimit: ReadonlyArray<PairDelta>;
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
export class CountStore {
  private readonly db: Database.Database;
  private readonly counts = new Map<string, PairCount>();
  private readonly generations = new Map<string, GenerationState>();
  private readonly latestEpochs = new Map<string, number>();
  private readonly sources = new Map<string, SourceState>();
  private readonly rejectedRows = new Map<RejectReason, number>();
  private countedRows = 0;
  private readonly commitListeners = new Set<(change: CommittedChange) => void>();
  private readonly applyTransaction: (change: BatchChange) => SeriesSplit<PairDelta>;
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
        "VALUES (@sourceId, @generation, @fileId, @epoch, @endOffset, @anchor, @nowMs, @fileBirthMs) " +
        "ON CONFLICT (source_id, generation) DO UPDATE SET committed_offset = excluded.committed_offset, " +
        "anchor = excluded.anchor, updated_ms = excluded.updated_ms, " +
        "file_birth_ms = CASE WHEN file_birth_ms = 0 THEN excluded.file_birth_ms ELSE file_birth_ms END",
    );
    const setSource = db.prepare(
      "INSERT INTO sources (source_id, created_ms, latest_generation, last_seen_ms, last_sidecar_id) " +
        "VALUES (@sourceId, @nowMs, @generation, @nowMs, @sidecarId) " +
        "ON CONFLICT (source_id) DO UPDATE SET latest_generation = excluded.latest_generation, " +
        "last_seen_ms = excluded.last_seen_ms, last_sidecar_id = excluded.last_sidecar_id",
    );
    const addRejected = db.prepare(
      "INSERT INTO rejected_rows (reason, count) VALUES (?, ?) " +
        "ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
    );
    this.applyTransaction = db.transaction((change: BatchChange) => {
      // Decided on the committed state this transaction starts from (the
      // in-memory view mirrors it), and committed with the batch.
      const split = splitBySeriesLimit(change.deltas, (delta) => this.counts.has(pairKey(delta.host, delta.jobName)), this.counts.size, this.maxSeries);
      for (const delta of split.counted) addCount.run(delta.host, delta.jobName, delta.count);
      for (const entry of change.rejected) addRejected.run(normalizeRejectReason(entry.reason), entry.count);
      if (split.refusedRows > 0) addRejected.run(SERIES_LIMIT_REASON, split.refusedRows);
      setGeneration.run(change);
      setSource.run(change);
      return split;
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
   * Commits one batch durably, then updates the in-memory view and tells the
   * commit listeners what changed. Rows of new pairs beyond `maxSeries` are
   * not counted but rejected as series_limit, in the same transaction.
   */
  apply(change: BatchChange): AppliedBatch {
    this.assertOpen();
    const split = this.applyTransaction(change);
    const changed: Array<Readonly<PairCount>> = [];
    for (const delta of split.counted) {
      const key = pairKey(delta.host, delta.jobName);
      let pair = this.counts.get(key);
      if (pair) pair.count += delta.count;
      else this.counts.set(key, (pair = { host: delta.host, jobName: delta.jobName, count: delta.count }));
      changed.push(pair);
      this.countedRows += delta.count;
    }
    const rejected = split.refusedRows > 0 ? [...change.rejected, { reason: SERIES_LIMIT_REASON, count: split.refusedRows }] : change.rejected;
    for (const entry of rejected) {
      const reason = normalizeRejectReason(entry.reason);
      this.rejectedRows.set(reason, (this.rejectedRows.get(reason) ?? 0) + entry.count);
    }
    this.rememberGeneration({
      sourceId: change.sourceId,
      generation: change.generation,
      fileId: change.fileId,
      epoch: change.epoch,
      committedOffset: change.endOffset,
      anchor: change.anchor,
      updatedMs: change.nowMs,
      fileBirthMs: this.generation(change.sourceId, change.generation)?.fileBirthMs || change.fileBirthMs,
    });
    this.sources.set(change.sourceId, {
      sourceId: change.sourceId,
      createdMs: this.sources.get(change.sourceId)?.createdMs ?? change.nowMs,
      latestGeneration: change.generation,
      lastSeenMs: change.nowMs,
      lastSidecarId: change.sidecarId,
    });
    const applied = { refusedBySeriesLimit: split.refused };
    if (changed.length === 0) return applied;
    const committed: CommittedChange = { sourceId: change.sourceId, generation: change.generation, changed };
    for (const listener of this.commitListeners) listener(committed);
    return applied;
  }

  /**
   * Calls `listener` after every committed batch that changed a count, in
   * commit order, synchronously: it must not throw, and must be quick, since
   * the batch is acknowledged after it returns. Returns the unsubscribe.
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

const SERIES_LIMIT_REASON: RejectReason = "series_limit";

function generationKey(sourceId: string, name: string): string {
  return `${sourceId}\u0000${name}`;
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

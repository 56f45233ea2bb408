import * as fs from "node:fs";
import * as path from "node:path";
import type { SQLInputValue } from "node:sqlite";
import { setImmediate as nextTurn } from "node:timers/promises";
import { normalizeRejectReason } from "@logtally/proto";
import { StateError } from "../errors";
import type { StateRows } from "./count-view";
import type { MetricKind } from "../ingest/metric-registration";
import { decodeLabels, encodeLabels } from "./label-values";
import { migrate } from "./schema";
import { SqliteEngineError, SqliteResult, type SqliteDatabase, inTransaction, openSqlite, pragmaValue, sqliteResultCode } from "./sqlite-engine";
import { describeHolder, forgetHolder, recordHolder } from "./state-lock";

/** The tables of a state, in the order a transaction writes them. */
const TABLES = ["metrics", "series", "rejected", "generations", "sources"] as const satisfies ReadonlyArray<keyof StateRows>;

/** Rows written between two turns of the event loop by writeInSlices(): a few milliseconds' work. */
const ROWS_PER_SLICE = 2_000;

/** Open failures that say nothing of the file's content (its access, its volume, the space left). */
const ACCESS_OR_DISK = new Set<number>([SqliteResult.READONLY, SqliteResult.CANTOPEN, SqliteResult.PERM, SqliteResult.FULL, SqliteResult.IOERR]);

/** Name of the SQLite file inside the state directory. */
export const DATABASE_FILE = "logtally.db";

/**
 * The durable state: one SQLite database, which stores rows as the view
 * computed them and reads them back at start.
 *
 * Durability: WAL with synchronous=FULL, so a transaction is on disk when
 * write() returns and the acknowledgement that follows it never promises more
 * than the disk holds, even across a power loss.
 */
export class StateDatabase {
  private readonly writeRows: (rows: StateRows) => void;
  private readonly writeRow: (table: keyof StateRows, row: StateRows[keyof StateRows][number]) => void;
  private closed = false;

  private constructor(
    private readonly db: SqliteDatabase,
    readonly path: string,
    private readonly stateDir: string,
  ) {
    // A metric is written once, when it is registered: a second row of one name is a defect, and fails.
    const addMetric = db.prepare("INSERT INTO metrics (name, label_names, kind) VALUES (?, ?, ?)");
    const setSeries = db.prepare(
      "INSERT INTO series (metric, label_values, count) VALUES (?, ?, ?) ON CONFLICT (metric, label_values) DO UPDATE SET count = excluded.count",
    );
    const setGeneration = db.prepare(
      "INSERT INTO generations (source_id, generation, file_id, epoch, committed_offset, anchor, updated_ms, file_birth_ms, file_path) " +
        "VALUES (@sourceId, @generation, @fileId, @epoch, @committedOffset, @anchor, @updatedMs, @fileBirthMs, @filePath) " +
        "ON CONFLICT (source_id, generation) DO UPDATE SET committed_offset = excluded.committed_offset, " +
        "anchor = excluded.anchor, updated_ms = excluded.updated_ms, file_birth_ms = excluded.file_birth_ms, file_path = excluded.file_path",
    );
    const setSource = db.prepare(
      "INSERT INTO sources (source_id, created_ms, latest_generation, last_seen_ms, last_sidecar_id) " +
        "VALUES (@sourceId, @createdMs, @latestGeneration, @lastSeenMs, @lastSidecarId) " +
        "ON CONFLICT (source_id) DO UPDATE SET latest_generation = excluded.latest_generation, " +
        "last_seen_ms = excluded.last_seen_ms, last_sidecar_id = excluded.last_sidecar_id",
    );
    const setRejected = db.prepare("INSERT INTO rejected_rows (reason, count) VALUES (?, ?) ON CONFLICT (reason) DO UPDATE SET count = excluded.count");
    // Named parameters bind the row's fields; node:sqlite refuses a field the statement does not name.
    this.writeRow = (table, row) => {
      if (table === "series") {
        const series = row as StateRows["series"][number];
        setSeries.run(series.metric, encodeLabels(series.labels), series.count);
      } else if (table === "metrics") {
        const metric = row as StateRows["metrics"][number];
        addMetric.run(metric.name, encodeLabels(metric.labelNames), metric.kind);
      } else if (table === "rejected") setRejected.run(...(row as StateRows["rejected"][number]));
      else (table === "generations" ? setGeneration : setSource).run(row as unknown as Record<string, SQLInputValue>);
    };
    this.writeRows = (rows) =>
      inTransaction(db, () => {
        for (const table of TABLES) for (const row of rows[table]) this.writeRow(table, row);
      });
  }

  /**
   * Opens (creating if needed) the database in `stateDir`. Throws StateError,
   * naming the file, when it cannot be read or fails its integrity check:
   * starting from zero instead would silently lose every count.
   * `openDatabase` is the engine (node:sqlite); the benchmark puts another
   * SQLite binding in its place to compare the two on this very code.
   */
  static open(stateDir: string, openDatabase: (databasePath: string) => SqliteDatabase = openSqlite): StateDatabase {
    const databasePath = path.resolve(stateDir, DATABASE_FILE);
    try {
      fs.mkdirSync(stateDir, { recursive: true });
    } catch (cause) {
      throw new StateError(`cannot create state directory ${path.resolve(stateDir)}`, stateDir, { cause });
    }
    refuseEmpty(databasePath);
    refuseUnwritable(stateDir, databasePath);
    const db = openEngine(databasePath, openDatabase);
    try {
      lockExclusively(db, stateDir);
      // Checked before anything is written: a database refused is left exactly as it was.
      const check = pragmaValue(db, "quick_check");
      if (check !== "ok") throw new Error(`integrity check reported: ${String(check)}`);
      refuseForeign(db);
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000");
      migrate(db);
      recordHolder(stateDir);
      return new StateDatabase(db, databasePath, stateDir);
    } catch (cause) {
      db.close();
      if (cause instanceof StateError) throw cause;
      // Access and disk errors say nothing of the file's content: no advice to throw it away.
      const advice = ACCESS_OR_DISK.has(sqliteResultCode(cause) ?? -1)
        ? "The file may well be intact: check its permissions, its volume and the free space."
        : "Restore it from a backup, or move it aside to start counting from zero.";
      throw new StateError(`cannot use state database ${databasePath}: ${(cause as Error).message}. ${advice}`, databasePath, { cause });
    }
  }

  /** Every row stored. */
  load(): StateRows {
    const metrics = (
      this.db.prepare("SELECT name, label_names, kind FROM metrics").all() as Array<{ name: string; label_names: string; kind: MetricKind }>
    ).map(({ name, label_names, kind }) => ({ name, labelNames: decodeLabels(label_names), kind }));
    const series = (
      this.db.prepare("SELECT metric, label_values, count FROM series").all() as Array<{ metric: string; label_values: string; count: number }>
    ).map(({ metric, label_values, count }) => ({ metric, labels: decodeLabels(label_values), count }));
    const generations = this.db
      .prepare(
        "SELECT source_id AS sourceId, generation, file_id AS fileId, epoch, committed_offset AS committedOffset, anchor, " +
          "updated_ms AS updatedMs, file_birth_ms AS fileBirthMs, file_path AS filePath FROM generations",
      )
      .all() as unknown as StateRows["generations"];
    const sources = this.db
      .prepare(
        "SELECT source_id AS sourceId, created_ms AS createdMs, latest_generation AS latestGeneration, last_seen_ms AS lastSeenMs, last_sidecar_id AS lastSidecarId FROM sources",
      )
      .all() as unknown as StateRows["sources"];
    const rejected = (this.db.prepare("SELECT reason, count FROM rejected_rows").all() as Array<{ reason: string; count: number }>).map(
      ({ reason, count }) => [normalizeRejectReason(reason), count] as const,
    );
    return { metrics, series, generations, sources, rejected };
  }

  /** Stores `rows` in one durable transaction; throws, storing none of them, when it fails. */
  write(rows: StateRows): void {
    if (this.closed) throw new Error("state database is closed");
    this.writeRows(rows);
  }

  /**
   * Like write(), but a large set of rows is written in slices with the
   * event loop let through between them, so that scrapes and acknowledgements
   * are not held up for the whole transaction. Only this process writes the
   * database (it holds the exclusive lock) and the caller commits one group
   * at a time, so the transaction may stay open across turns.
   */
  async writeInSlices(rows: StateRows): Promise<void> {
    if (this.closed) throw new Error("state database is closed");
    if (TABLES.reduce((sum, table) => sum + rows[table].length, 0) <= ROWS_PER_SLICE) return this.writeRows(rows);
    this.db.exec("BEGIN");
    try {
      let written = 0;
      for (const table of TABLES) {
        for (const row of rows[table]) {
          this.writeRow(table, row);
          if (++written % ROWS_PER_SLICE === 0) await nextTurn();
        }
      }
      this.db.exec("COMMIT");
    } catch (error) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Writes and commits without changing anything (the schema version, again): throws what a commit would. */
  probeWrite(): void {
    if (this.closed) throw new Error("state database is closed");
    const version = pragmaValue(this.db, "user_version") as number;
    inTransaction(this.db, () => this.db.exec(`PRAGMA user_version = ${version}`));
  }

  /** Closes the database; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    forgetHolder(this.stateDir);
  }
}

/**
 * A database file that exists but is empty was counted into before it was
 * lost (a failed restore, a re-created volume): starting from zero would
 * forget what was counted and re-count or lose the rows of files since
 * rotated. Only a missing file is a fresh start.
 */
function refuseEmpty(databasePath: string): void {
  let size: number;
  try {
    size = fs.statSync(databasePath).size;
  } catch {
    return;
  }
  if (size === 0) {
    throw new StateError(
      `state database ${databasePath} is empty (0 bytes), so what was counted is gone: restore it from a backup, ` +
        "or delete it to start counting from zero (rows of files already rotated away will not be counted again)",
      databasePath,
    );
  }
}

/**
 * A state this process may not write (a file restored with mode 0400, a
 * volume mounted read-only, another user's files) is refused before SQLite
 * opens it: the lock and every commit need writing, and SQLite would report
 * it as a damaged database. The state itself is fine; its access is not.
 */
function refuseUnwritable(stateDir: string, databasePath: string): void {
  const user = process.getuid ? ` (uid ${process.getuid()})` : "";
  for (const target of [stateDir, databasePath, `${databasePath}-wal`, `${databasePath}-shm`]) {
    try {
      fs.accessSync(target, fs.constants.W_OK);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue;
      const why = code === "EROFS" ? "its file system is mounted read-only" : `this process${user} may not write it (${code})`;
      throw new StateError(
        `state ${target === stateDir ? "directory" : "file"} ${path.resolve(target)} cannot be written: ${why}. ` +
          "Nothing was changed; give the aggregator's user write access to the state directory and its files " +
          "(in Kubernetes: a volume that is not readOnly, and fsGroup or runAsUser matching the files' owner)",
        target,
        { cause },
      );
    }
  }
}

/** Opens the file with the SQLite engine; an engine that cannot be loaded is a broken installation, not a broken state. */
function openEngine(databasePath: string, openDatabase: (databasePath: string) => SqliteDatabase): SqliteDatabase {
  try {
    return openDatabase(databasePath);
  } catch (cause) {
    if (cause instanceof SqliteEngineError) throw cause;
    throw new StateError(`cannot open state database ${databasePath}: ${(cause as Error).message}`, databasePath, { cause });
  }
}

/**
 * Takes SQLite's exclusive lock for the life of the process: a second
 * aggregator on the same state, which would count what the first counts
 * again from stale offsets, is refused at start.
 */
function lockExclusively(db: SqliteDatabase, stateDir: string): void {
  db.exec("PRAGMA locking_mode = EXCLUSIVE; PRAGMA busy_timeout = 1000");
  try {
    db.exec("BEGIN EXCLUSIVE; COMMIT");
  } catch (cause) {
    if (sqliteResultCode(cause) !== SqliteResult.BUSY) throw cause;
    throw new StateError(
      `state directory ${path.resolve(stateDir)} is in use by ${describeHolder(stateDir)}: run one aggregator per state directory`,
      stateDir,
      { cause },
    );
  }
}

/** A database with tables but no logtally schema version belongs to something else: never migrate over it. */
function refuseForeign(db: SqliteDatabase): void {
  if (pragmaValue(db, "user_version") !== 0) return;
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((row) => String(row.name));
  if (tables.length > 0) throw new Error(`it is not a logtally state database (it holds tables ${tables.slice(0, 5).join(", ")})`);
}

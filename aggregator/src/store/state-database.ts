import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";
import { normalizeRejectReason } from "@logtally/proto";
import { StateError } from "../errors";
import type { StateRows } from "./count-view";
import { migrate } from "./schema";

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
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    const setCount = db.prepare(
      "INSERT INTO counts (host, job_name, count) VALUES (@host, @jobName, @count) ON CONFLICT (host, job_name) DO UPDATE SET count = excluded.count",
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
    const setRejected = db.prepare("INSERT INTO rejected_rows (reason, count) VALUES (?, ?) ON CONFLICT (reason) DO UPDATE SET count = excluded.count");
    this.writeRows = db.transaction((rows: StateRows) => {
      for (const count of rows.counts) setCount.run(count);
      for (const [reason, count] of rows.rejected) setRejected.run(reason, count);
      for (const generation of rows.generations) setGeneration.run(generation);
      for (const source of rows.sources) setSource.run(source);
    });
  }

  /**
   * Opens (creating if needed) the database in `stateDir`. Throws StateError,
   * naming the file, when it cannot be read or fails its integrity check:
   * starting from zero instead would silently lose every count.
   */
  static open(stateDir: string): StateDatabase {
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
      return new StateDatabase(db, databasePath);
    } catch (cause) {
      db?.close();
      throw new StateError(
        `cannot use state database ${databasePath}: ${(cause as Error).message}. Restore it from a backup, or move it aside to start counting from zero.`,
        databasePath,
        { cause },
      );
    }
  }

  /** Every row stored. */
  load(): StateRows {
    const counts = this.db.prepare("SELECT host, job_name AS jobName, count FROM counts").all() as StateRows["counts"];
    const generations = this.db
      .prepare(
        "SELECT source_id AS sourceId, generation, file_id AS fileId, epoch, committed_offset AS committedOffset, anchor, " +
          "updated_ms AS updatedMs, file_birth_ms AS fileBirthMs FROM generations",
      )
      .all() as StateRows["generations"];
    const sources = this.db
      .prepare(
        "SELECT source_id AS sourceId, created_ms AS createdMs, latest_generation AS latestGeneration, last_seen_ms AS lastSeenMs, last_sidecar_id AS lastSidecarId FROM sources",
      )
      .all() as StateRows["sources"];
    const rejected = (this.db.prepare("SELECT reason, count FROM rejected_rows").all() as Array<{ reason: string; count: number }>).map(
      ({ reason, count }) => [normalizeRejectReason(reason), count] as const,
    );
    return { counts, generations, sources, rejected };
  }

  /** Stores `rows` in one durable transaction; throws, storing none of them, when it fails. */
  write(rows: StateRows): void {
    if (this.closed) throw new Error("state database is closed");
    this.writeRows(rows);
  }

  /** Closes the database; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

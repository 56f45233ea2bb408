import { inTransaction, pragmaValue, type SqliteDatabase } from "./sqlite-engine";

/**
 * The state database's schema, as the changes that build it: each takes the
 * database from version i (SQLite's user_version) to i + 1.
 */
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
  `
    ALTER TABLE generations ADD COLUMN file_path TEXT NOT NULL DEFAULT '';
  `,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION, one transaction per step; refuses a newer one. */
export function migrate(db: SqliteDatabase): void {
  const version = pragmaValue(db, "user_version") as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`schema version ${version} is newer than this aggregator understands (${SCHEMA_VERSION})`);
  }
  for (let next = version; next < SCHEMA_VERSION; next++) {
    inTransaction(db, () => {
      db.exec(MIGRATIONS[next]!);
      db.exec(`PRAGMA user_version = ${next + 1}`);
    });
  }
}

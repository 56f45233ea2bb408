import { encodeLabels } from "./label-values";
import { inTransaction, pragmaValue, type SqliteDatabase } from "./sqlite-engine";

/** One step of the schema: SQL, or code where SQL alone cannot write the rows. */
type Migration = string | ((db: SqliteDatabase) => void);

/**
 * The state database's schema, as the changes that build it: each takes the
 * database from version i (SQLite's user_version) to i + 1.
 */
const MIGRATIONS: readonly Migration[] = [
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
  countSeriesOfAnyMetric,
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
    const migration = MIGRATIONS[next]!;
    inTransaction(db, () => {
      if (typeof migration === "string") db.exec(migration);
      else migration(db);
      db.exec(`PRAGMA user_version = ${next + 1}`);
    });
  }
}

/**
 * Version 4: series of any metric. `metrics` holds each metric's label names
 * (a JSON array, fixed by the first spec counted under it) and kind;
 * `series` a count per metric and label values (a JSON array in the order
 * of the label names; see label-values.ts). The pairs of `counts` move into
 * `series` under log_host_job_count, every count as it was. The label values
 * are written by encodeLabels(), as every later write is, not by SQLite's
 * JSON functions: a series' key must be the same text whoever wrote it.
 */
function countSeriesOfAnyMetric(db: SqliteDatabase): void {
  db.exec(`
    CREATE TABLE metrics (
      name TEXT PRIMARY KEY,
      label_names TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('gauge', 'counter'))
    ) WITHOUT ROWID;
    CREATE TABLE series (
      metric TEXT NOT NULL REFERENCES metrics (name),
      label_values TEXT NOT NULL,
      count INTEGER NOT NULL CHECK (count >= 0),
      PRIMARY KEY (metric, label_values)
    ) WITHOUT ROWID;
  `);
  db.prepare("INSERT INTO metrics (name, label_names, kind) VALUES (?, ?, 'gauge')").run("log_host_job_count", encodeLabels(["host", "job_name"]));
  const insert = db.prepare("INSERT INTO series (metric, label_values, count) VALUES ('log_host_job_count', ?, ?)");
  for (const { host, job_name, count } of db.prepare("SELECT host, job_name, count FROM counts").all() as Array<{
    host: string;
    job_name: string;
    count: number;
  }>) {
    insert.run(encodeLabels([host, job_name]), count);
  }
  db.exec("DROP TABLE counts");
}

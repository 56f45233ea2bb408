import type { PoolClient } from "pg";
import { DEFAULT_METRIC } from "@logtally/proto";
import { StateError } from "../../errors";

/** The PostgreSQL schema (namespace) holding logtally's tables, so they never mix with another application's. */
export const SCHEMA = "logtally";

/** Version of the tables below; a database with a newer one was written by a newer logtally. */
export const POSTGRES_SCHEMA_VERSION = 2;

/** Key of the transaction-scoped advisory lock migrations take: replicas starting at once migrate one after another. */
const MIGRATION_LOCK_KEY = 0x6c6f677461;

/**
 * Every table carries `revision`: the number of the commit that last wrote
 * the row. Commits take the `meta` row's lock first and number themselves
 * one after another, so an aggregator that has seen every commit up to N
 * catches up with the rows of revision > N and never shows less than it did.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE ${SCHEMA}.meta (
     singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
     application text NOT NULL,
     schema_version integer NOT NULL,
     revision bigint NOT NULL,
     series_count bigint NOT NULL
   );
   CREATE TABLE ${SCHEMA}.counts (
     host text NOT NULL, job_name text NOT NULL, count bigint NOT NULL, revision bigint NOT NULL,
     PRIMARY KEY (host, job_name)
   );
   CREATE INDEX counts_revision ON ${SCHEMA}.counts (revision);
   CREATE TABLE ${SCHEMA}.generations (
     source_id text NOT NULL, generation text NOT NULL, file_id text NOT NULL, epoch integer NOT NULL,
     committed_offset bigint NOT NULL, anchor text NOT NULL, updated_ms bigint NOT NULL,
     file_birth_ms double precision NOT NULL, file_path text NOT NULL, revision bigint NOT NULL,
     PRIMARY KEY (source_id, generation)
   );
   CREATE INDEX generations_file ON ${SCHEMA}.generations (source_id, file_id, epoch);
   CREATE INDEX generations_revision ON ${SCHEMA}.generations (revision);
   CREATE TABLE ${SCHEMA}.sources (
     source_id text PRIMARY KEY, created_ms bigint NOT NULL, latest_generation text NOT NULL,
     last_seen_ms bigint NOT NULL, last_sidecar_id text NOT NULL, revision bigint NOT NULL
   );
   CREATE INDEX sources_revision ON ${SCHEMA}.sources (revision);
   CREATE TABLE ${SCHEMA}.rejected_rows (reason text PRIMARY KEY, count bigint NOT NULL, revision bigint NOT NULL);
   CREATE INDEX rejected_rows_revision ON ${SCHEMA}.rejected_rows (revision);
   INSERT INTO ${SCHEMA}.meta (application, schema_version, revision, series_count) VALUES ('logtally', 1, 0, 0);`,
  // Version 2: series of any metric. A metric's label names and each
  // series' label values are JSON arrays of strings, as label-values.ts
  // writes them: '[' || to_json(value)::text ... writes the very same text
  // for any valid label (no control characters), so the pairs moved here
  // keep their keys. The series count moves from meta to each metric.
  `CREATE TABLE ${SCHEMA}.metrics (
     name text PRIMARY KEY,
     label_names text NOT NULL,
     kind text NOT NULL CHECK (kind IN ('gauge', 'counter')),
     series_count bigint NOT NULL,
     revision bigint NOT NULL
   );
   CREATE INDEX metrics_revision ON ${SCHEMA}.metrics (revision);
   CREATE TABLE ${SCHEMA}.series (
     metric text NOT NULL REFERENCES ${SCHEMA}.metrics (name),
     label_values text NOT NULL, count bigint NOT NULL, revision bigint NOT NULL,
     PRIMARY KEY (metric, label_values)
   );
   CREATE INDEX series_revision ON ${SCHEMA}.series (revision);
   INSERT INTO ${SCHEMA}.metrics (name, label_names, kind, series_count, revision)
     SELECT '${DEFAULT_METRIC}', '["host","job_name"]', 'gauge', series_count, 0 FROM ${SCHEMA}.meta;
   INSERT INTO ${SCHEMA}.series (metric, label_values, count, revision)
     SELECT '${DEFAULT_METRIC}', '[' || to_json(host)::text || ',' || to_json(job_name)::text || ']', count, revision FROM ${SCHEMA}.counts;
   DROP TABLE ${SCHEMA}.counts;
   ALTER TABLE ${SCHEMA}.meta DROP COLUMN series_count;`,
];

/**
 * Creates or upgrades logtally's tables in one transaction under an advisory
 * lock (two replicas starting at once are safe; a transaction-scoped lock also
 * works behind PgBouncer in transaction mode). Refuses, with StateError, a
 * schema holding someone else's tables or written by a newer logtally, and a
 * server that only reads (a hot standby).
 */
export async function migrate(client: PoolClient, location: string): Promise<void> {
  await client.query("BEGIN");
  try {
    if ((await client.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby")).rows[0]!.standby) {
      throw new StateError(`PostgreSQL at ${location} is a read-only standby: point --store at the primary (read-write) server`, location);
    }
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
    const version = await installedVersion(client, location);
    if (version > POSTGRES_SCHEMA_VERSION) {
      throw new StateError(
        `the logtally tables at ${location} have schema version ${version}, newer than this aggregator's ${POSTGRES_SCHEMA_VERSION}: ` +
          "run the newer logtally, or restore a backup from before the upgrade",
        location,
      );
    }
    if (version === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    for (let next = version; next < POSTGRES_SCHEMA_VERSION; next++) await client.query(MIGRATIONS[next]!);
    await client.query(`UPDATE ${SCHEMA}.meta SET schema_version = $1`, [POSTGRES_SCHEMA_VERSION]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** The schema version installed; 0 when there is none. Refuses a `logtally` schema that holds other tables. */
async function installedVersion(client: PoolClient, location: string): Promise<number> {
  const tables = (
    await client.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [SCHEMA])
  ).rows.map(({ name }) => name);
  if (tables.length === 0) return 0;
  const meta = tables.includes("meta")
    ? (await client.query<{ application: string; schema_version: number }>(`SELECT application, schema_version FROM ${SCHEMA}.meta`)).rows[0]
    : undefined;
  if (meta?.application !== "logtally") {
    throw new StateError(
      `schema ${SCHEMA} at ${location} holds tables that are not logtally's (${tables.slice(0, 5).join(", ")}): ` +
        "give logtally a database (or a schema) of its own",
      location,
    );
  }
  return meta.schema_version;
}

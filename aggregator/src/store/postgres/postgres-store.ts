import pg from "pg";
import type { Logger } from "@logtally/runtime";
import { StateError } from "../../errors";
import { decideGroup, generationKey, type GroupedBatch, type GroupOutcome, type GroupWrites } from "../../ingest/batch-group";
import { seriesKey } from "../../ingest/ledger";
import { decideRegistration, type MetricDefinition, type MetricKind, type MetricRegistration } from "../../ingest/metric-registration";
import { normalizeRejectReason, type CountingSpec } from "@logtally/proto";
import { CountView, NO_ROWS, type StateRows } from "../count-view";
import { decodeLabels, encodeLabels } from "../label-values";
import { CommitListeners, DEFAULT_MAX_SERIES, type CommittedChange, type Store, type StoreOptions } from "../store";
import { CommittedSnapshot } from "./committed-snapshot";
import { migrate, SCHEMA } from "./postgres-schema";
import { redactUrl } from "./redact-url";

/** Connections per aggregator: commits are one at a time; refreshes and probes take the others. */
const POOL_SIZE = 4;
const CONNECT_TIMEOUT_MS = 5_000;
/** A statement the server takes longer than this for is cancelled (and its transaction rolled back). */
const STATEMENT_TIMEOUT_MS = 10_000;
/** A query the client waits longer than this for (the server gone silent) fails. */
const QUERY_TIMEOUT_MS = 15_000;

/** Counts in bigint columns stay below 2^53: read them as numbers. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? (text: string) => Number(text) : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

/**
 * The shared store: a PostgreSQL database that any number of aggregators
 * use at once, each with its view of it in memory for reads.
 *
 * A group is committed in one transaction that first locks the `meta` row,
 * so commits of all aggregators happen one after another and are numbered
 * (see postgres-schema.ts); inside it the rows the group touches are read,
 * the group is decided by the same rules as everywhere (batch-group.ts), and
 * counts are added as increments, offsets and sources set, in one statement
 * per table. Whatever replica a sidecar talks to, and however many sidecars
 * ship one file, each byte range is counted once.
 *
 * The view takes its own commit's writes when no other commit came between,
 * and otherwise catches up with every row of a higher revision than it has
 * seen, in one snapshot (refresh()): then, before each Welcome and scrape,
 * and every second.
 */
export class PostgresStore implements Store {
  readonly view: CountView;
  readonly location: string;
  private readonly pool: pg.Pool;
  private readonly listeners = new CommitListeners();
  /** Highest revision the view holds. */
  private seenRevision = 0;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private closed = false;

  constructor(
    url: string,
    private readonly log: Logger,
    { maxSeries = DEFAULT_MAX_SERIES }: StoreOptions = {},
  ) {
    this.location = redactUrl(url);
    this.view = new CountView(NO_ROWS, maxSeries);
    this.pool = new pg.Pool({
      connectionString: url,
      max: POOL_SIZE,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: "logtally-aggregator",
      types: TYPES,
    });
    // An idle connection that breaks (the server restarted) is dropped from the pool; the next query opens another.
    this.pool.on("error", (error) => this.log.warn({ err: error.message }, "idle PostgreSQL connection lost"));
  }

  /** Connects, creates or upgrades the tables, and loads the view; throws StateError when the database cannot be used. */
  async open(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (cause) {
      throw new StateError(`cannot connect to PostgreSQL at ${this.location}: ${(cause as Error).message}`, this.location, { cause });
    }
    try {
      await migrate(client, this.location);
    } catch (cause) {
      if (cause instanceof StateError) throw cause;
      throw new StateError(`cannot set up the logtally tables at ${this.location}: ${(cause as Error).message}`, this.location, { cause });
    } finally {
      client.release();
    }
    await this.refresh();
  }

  async commitGroup(group: readonly GroupedBatch[]): Promise<GroupOutcome[]> {
    type Committed = { readonly outcomes: readonly GroupOutcome[]; readonly committed?: { readonly revision: number; readonly writes: GroupWrites } };
    const { outcomes, committed } = await this.inTransaction<Committed>(async (client) => {
      const meta = (await client.query<{ revision: number }>(`SELECT revision FROM ${SCHEMA}.meta FOR UPDATE`)).rows[0]!;
      const snapshot = await CommittedSnapshot.read(client, group, this.view.maxSeries);
      const decided = decideGroup(snapshot, group);
      if (decided.writes.generations.size === 0) return { value: { outcomes: decided.outcomes }, commit: false };
      const revision = meta.revision + 1;
      await writeGroup(client, decided.writes, revision);
      await client.query(`UPDATE ${SCHEMA}.meta SET revision = $1`, [revision]);
      return { value: { outcomes: decided.outcomes, committed: { revision, writes: decided.writes } }, commit: true };
    });
    if (committed && committed.revision === this.seenRevision + 1) {
      // The view held every commit before this one, so it held what the
      // database held: its next state is this group's writes applied to it,
      // without reading them back.
      this.seenRevision = committed.revision;
      this.listeners.notify(this.view.apply(this.view.next(committed.writes)));
    } else if (committed) {
      // Another aggregator committed between: catch up. Committed already, so
      // the acknowledgements must not wait on, or fail with, the catching up.
      await this.refresh().catch((error: unknown) => this.log.warn({ err: (error as Error).message }, "view not refreshed after a commit"));
    }
    return [...outcomes];
  }

  /** Catches up with every commit since the last; concurrent calls share one refresh, and one more after it. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          await this.refreshOnce();
        } while (this.refreshAgain);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async refreshOnce(): Promise<void> {
    const since = this.seenRevision;
    const read = await this.inTransaction<{ revision: number; rows: StateRows | undefined }>(async (client) => {
      const revision = (await client.query<{ revision: number }>(`SELECT revision FROM ${SCHEMA}.meta`)).rows[0]!.revision;
      if (revision === since) return { value: { revision, rows: undefined }, commit: false };
      const rows: StateRows = {
        metrics: (
          await client.query<{ name: string; label_names: string; kind: MetricKind }>(
            `SELECT name, label_names, kind FROM ${SCHEMA}.metrics WHERE revision > $1`,
            [since],
          )
        ).rows.map(({ name, label_names, kind }) => ({ name, labelNames: decodeLabels(label_names), kind })),
        series: (
          await client.query<{ metric: string; label_values: string; count: number }>(
            `SELECT metric, label_values, count FROM ${SCHEMA}.series WHERE revision > $1`,
            [since],
          )
        ).rows.map(({ metric, label_values, count }) => ({ metric, labels: decodeLabels(label_values), count })),
        generations: (
          await client.query(
            `SELECT source_id AS "sourceId", generation, file_id AS "fileId", epoch, committed_offset AS "committedOffset", anchor,
                 updated_ms AS "updatedMs", file_birth_ms AS "fileBirthMs", file_path AS "filePath"
               FROM ${SCHEMA}.generations WHERE revision > $1`,
            [since],
          )
        ).rows,
        sources: (
          await client.query(
            `SELECT source_id AS "sourceId", created_ms AS "createdMs", latest_generation AS "latestGeneration",
                 last_seen_ms AS "lastSeenMs", last_sidecar_id AS "lastSidecarId"
               FROM ${SCHEMA}.sources WHERE revision > $1`,
            [since],
          )
        ).rows,
        rejected: (
          await client.query<{ reason: string; count: number }>(`SELECT reason, count FROM ${SCHEMA}.rejected_rows WHERE revision > $1`, [since])
        ).rows.map(({ reason, count }) => [normalizeRejectReason(reason), count] as const),
      };
      return { value: { revision, rows }, commit: false };
    }, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (!read.rows || read.revision <= this.seenRevision) return;
    this.seenRevision = read.revision;
    this.listeners.notify(this.view.apply(read.rows));
  }

  /**
   * Fills an empty database with `rows` (a state copied from elsewhere), in
   * one transaction; refuses, with StateError and changing nothing, a
   * database that holds any state already.
   */
  async importState(rows: StateRows): Promise<void> {
    await this.inTransaction(async (client) => {
      const { revision } = (await client.query<{ revision: number }>(`SELECT revision FROM ${SCHEMA}.meta FOR UPDATE`)).rows[0]!;
      if (revision !== 0) {
        throw new StateError(`${this.location} already holds a logtally state (${revision} commits): a state is only copied into an empty one`, this.location);
      }
      await writeMetrics(client, rows.metrics, rows.series, 1);
      const writes: GroupWrites = {
        series: new Map(rows.series.map((series) => [seriesKey(series.metric, series.labels), series])),
        newSeries: new Map(),
        generations: new Map(rows.generations.map((generation) => [generationKey(generation.sourceId, generation.generation), generation])),
        sources: new Map(rows.sources.map((source) => [source.sourceId, source])),
        rejected: new Map(rows.rejected),
        countedRows: rows.series.reduce((sum, series) => sum + series.count, 0),
      };
      // Into empty tables, the increments are the totals.
      await writeGroup(client, writes, 1);
      await client.query(`UPDATE ${SCHEMA}.meta SET revision = 1`);
      return { value: undefined, commit: true };
    });
    await this.refresh();
  }

  /**
   * Registers as Store.registerMetric() says. Definitions never change, so
   * a metric the view holds is decided without the database; a new one in a
   * transaction that takes the commit lock (the `meta` row) first, as
   * commits do: of two aggregators registering one metric at once, the
   * second reads the first's row once it holds the lock, and finds it known
   * or in conflict.
   */
  async registerMetric(spec: CountingSpec): Promise<MetricRegistration> {
    const held = this.view.metric(spec.metric);
    if (held) return decideRegistration(held.definition, spec);
    const { registration, revision } = await this.inTransaction<{ registration: MetricRegistration; revision?: number }>(async (client) => {
      const meta = (await client.query<{ revision: number }>(`SELECT revision FROM ${SCHEMA}.meta FOR UPDATE`)).rows[0]!;
      const stored = (
        await client.query<{ label_names: string; kind: MetricKind }>(`SELECT label_names, kind FROM ${SCHEMA}.metrics WHERE name = $1`, [spec.metric])
      ).rows[0];
      const existing = stored && { name: spec.metric, labelNames: decodeLabels(stored.label_names), kind: stored.kind };
      const decided = decideRegistration(existing, spec);
      if (decided.outcome !== "registered") return { value: { registration: decided }, commit: false };
      const next = meta.revision + 1;
      await writeMetrics(client, [decided.definition], [], next);
      await client.query(`UPDATE ${SCHEMA}.meta SET revision = $1`, [next]);
      return { value: { registration: decided, revision: next }, commit: true };
    });
    // Stored, or found stored: the view holds it from now on (a refresh reading it again changes nothing).
    this.view.define(registration.definition);
    if (revision === this.seenRevision + 1) this.seenRevision = revision;
    return registration;
  }

  onCommit(listener: (change: CommittedChange) => void): () => void {
    return this.listeners.add(listener);
  }

  /** A write that changes nothing, rolled back: fails as a commit would (unreachable, read-only standby, disk full). */
  async probeWrite(): Promise<void> {
    await this.inTransaction(async (client) => {
      await client.query(`UPDATE ${SCHEMA}.meta SET schema_version = schema_version`);
      return { value: undefined, commit: false };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.refreshing?.catch(() => undefined);
    await this.pool.end();
  }

  /**
   * Runs `body` in a transaction on a connection of the pool; commits when
   * it asks to, rolls back otherwise and on any error. A connection whose
   * transaction failed is discarded, not reused: it may be broken.
   */
  private async inTransaction<T>(body: (client: pg.PoolClient) => Promise<{ value: T; commit: boolean }>, begin = "BEGIN"): Promise<T> {
    if (this.closed) throw new Error("state database is closed");
    const client = await this.pool.connect();
    let failure: Error | undefined;
    // The pool listens for errors of idle connections only: a connection that
    // breaks while checked out (the server restarted, the network cut) emits
    // 'error', which would end the process unheard. The query in flight fails
    // with it too, and that failure is what the caller gets.
    const broken = (error: Error) => {
      failure ??= error;
    };
    client.on("error", broken);
    try {
      await client.query(begin);
      const { value, commit } = await body(client);
      await client.query(commit ? "COMMIT" : "ROLLBACK");
      return value;
    } catch (error) {
      failure ??= error as Error;
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      // A broken connection is discarded, and keeps the listener for what it may still emit.
      if (!failure) client.off("error", broken);
      client.release(failure);
    }
  }
}

/**
 * Writes metric definitions, with the number of `series` of each (the series
 * limit's count); a metric stored already keeps its definition, which never
 * changes, and takes the new series count.
 */
async function writeMetrics(client: pg.PoolClient, metrics: readonly MetricDefinition[], series: StateRows["series"], revision: number): Promise<void> {
  if (metrics.length === 0) return;
  const seriesCounts = new Map<string, number>();
  for (const { metric } of series) seriesCounts.set(metric, (seriesCounts.get(metric) ?? 0) + 1);
  await client.query(
    `INSERT INTO ${SCHEMA}.metrics (name, label_names, kind, series_count, revision)
     SELECT name, label_names, kind, series_count, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS k(name, label_names, kind, series_count)
     ON CONFLICT (name) DO UPDATE SET series_count = EXCLUDED.series_count, revision = EXCLUDED.revision`,
    [
      metrics.map((metric) => metric.name),
      metrics.map((metric) => encodeLabels(metric.labelNames)),
      metrics.map((metric) => metric.kind),
      metrics.map((metric) => seriesCounts.get(metric.name) ?? 0),
      revision,
    ],
  );
}

/** Writes what a group changes, one statement per table, rows in key order (two writers never wait on each other in a cycle). */
async function writeGroup(client: pg.PoolClient, writes: GroupWrites, revision: number): Promise<void> {
  const series = [...writes.series.values()]
    .map((delta) => ({ metric: delta.metric, labelValues: encodeLabels(delta.labels), count: delta.count }))
    .sort((a, b) => compare(a.metric, b.metric) || compare(a.labelValues, b.labelValues));
  if (series.length > 0) {
    await client.query(
      `INSERT INTO ${SCHEMA}.series (metric, label_values, count, revision)
       SELECT metric, label_values, count, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(metric, label_values, count)
       ON CONFLICT (metric, label_values) DO UPDATE SET count = series.count + EXCLUDED.count, revision = EXCLUDED.revision`,
      [series.map((row) => row.metric), series.map((row) => row.labelValues), series.map((row) => row.count), revision],
    );
  }
  if (writes.newSeries.size > 0) {
    // The series limit's count; not part of what a view reads, so the revision stays.
    const added = [...writes.newSeries].sort(([a], [b]) => compare(a, b));
    await client.query(
      `UPDATE ${SCHEMA}.metrics m SET series_count = m.series_count + k.added
       FROM unnest($1::text[], $2::bigint[]) AS k(name, added) WHERE m.name = k.name`,
      [added.map(([name]) => name), added.map(([, count]) => count)],
    );
  }
  const generations = [...writes.generations.values()];
  if (generations.length > 0) {
    await client.query(
      `INSERT INTO ${SCHEMA}.generations
       (source_id, generation, file_id, epoch, committed_offset, anchor, updated_ms, file_birth_ms, file_path, revision)
     SELECT *, $10 FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::text[], $7::bigint[],
       $8::double precision[], $9::text[])
     ON CONFLICT (source_id, generation) DO UPDATE SET committed_offset = EXCLUDED.committed_offset, anchor = EXCLUDED.anchor,
       updated_ms = EXCLUDED.updated_ms, file_birth_ms = EXCLUDED.file_birth_ms, file_path = EXCLUDED.file_path, revision = EXCLUDED.revision`,
      [
        generations.map((g) => g.sourceId),
        generations.map((g) => g.generation),
        generations.map((g) => g.fileId),
        generations.map((g) => g.epoch),
        generations.map((g) => g.committedOffset),
        generations.map((g) => g.anchor),
        generations.map((g) => g.updatedMs),
        generations.map((g) => g.fileBirthMs),
        generations.map((g) => g.filePath),
        revision,
      ],
    );
  }
  const sources = [...writes.sources.values()];
  if (sources.length > 0) {
    await client.query(
      `INSERT INTO ${SCHEMA}.sources (source_id, created_ms, latest_generation, last_seen_ms, last_sidecar_id, revision)
     SELECT *, $6 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])
     ON CONFLICT (source_id) DO UPDATE SET latest_generation = EXCLUDED.latest_generation, last_seen_ms = EXCLUDED.last_seen_ms,
       last_sidecar_id = EXCLUDED.last_sidecar_id, revision = EXCLUDED.revision`,
      [
        sources.map((s) => s.sourceId),
        sources.map((s) => s.createdMs),
        sources.map((s) => s.latestGeneration),
        sources.map((s) => s.lastSeenMs),
        sources.map((s) => s.lastSidecarId),
        revision,
      ],
    );
  }
  if (writes.rejected.size > 0) {
    const rejected = [...writes.rejected].sort(([a], [b]) => compare(a, b));
    await client.query(
      `INSERT INTO ${SCHEMA}.rejected_rows (reason, count, revision)
       SELECT reason, count, $3 FROM unnest($1::text[], $2::bigint[]) AS k(reason, count)
       ON CONFLICT (reason) DO UPDATE SET count = rejected_rows.count + EXCLUDED.count, revision = EXCLUDED.revision`,
      [rejected.map(([reason]) => reason), rejected.map(([, count]) => count), revision],
    );
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

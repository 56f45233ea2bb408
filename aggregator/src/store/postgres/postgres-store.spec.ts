import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import pg from "pg";
import { createLogger } from "@logtally/runtime";
import { postgresUnavailable, TestPostgres } from "@logtally/testing";
import { StateError } from "../../errors";
import { DEFAULT_METRIC } from "@logtally/proto";
import { commitBatch, pairDelta, testBatch, type TestBatch } from "../../testing/commit-batch";
import { describeStoreConformance } from "../../testing/store-conformance";
import { describeWriteFailure } from "../write-failure";
import type { StoreOptions } from "../store";
import { PostgresStore } from "./postgres-store";
import { SqliteStore } from "../sqlite-store";
import { migrateState } from "../migrate-state";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { POSTGRES_SCHEMA_VERSION } from "./postgres-schema";

const silent = createLogger("test", "silent");
const skip = postgresUnavailable();
let server: TestPostgres | undefined;
let databases = 0;

before(async () => {
  if (!skip) server = await TestPostgres.start({ password: "s3cret-Pass" });
});
after(async () => server?.destroy());

/** A new database on the test server, as a URL with the password. */
async function freshDatabase(): Promise<string> {
  const name = `state_${++databases}`;
  await server!.createDatabase(name);
  return withPassword(server!.url(name));
}

function withPassword(url: string, password = "s3cret-Pass"): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

async function openStore(url: string, options?: StoreOptions): Promise<PostgresStore> {
  const store = new PostgresStore(url, silent, options);
  try {
    await store.open();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** A batch of source `shared` with one row of one pair, nothing rejected. */
function batch(overrides: Partial<TestBatch> = {}): TestBatch {
  return testBatch({ sourceId: "shared", deltas: [pairDelta("web-1", "backup", 1)], rejected: [], ...overrides });
}

describe("PostgreSQL store", { skip }, () => {
  describeStoreConformance({ name: "PostgreSQL", fresh: freshDatabase, open: openStore });

  test("two aggregators on one database count each byte range once, however their batches race", async () => {
    const url = await freshDatabase();
    const [first, second] = [await openStore(url), await openStore(url)];
    try {
      // Two sidecars of one shared file, each talking to another replica, ship the same ranges.
      const ranges = Array.from({ length: 60 }, (_, n) => ({ start: n * 10, end: n * 10 + 10 }));
      const ship = async (store: PostgresStore, sidecarId: string) => {
        let applied = 0;
        for (const { start, end } of ranges) {
          const [outcome] = await store.commitGroup([{ ...batch({ endOffset: end, sidecarId }), startOffset: start }]);
          if (outcome!.decision === "apply") applied++;
          else assert.ok(outcome!.decision === "duplicate" || outcome!.decision === "out_of_order", JSON.stringify(outcome));
        }
        return applied;
      };
      // Each retries what it could not apply, as a sidecar resumes from the committed offset.
      let applied = (await Promise.all([ship(first, "sidecar-1"), ship(second, "sidecar-2")])).reduce((a, b) => a + b, 0);
      for (const store of [first, second]) {
        await store.refresh();
        for (const { start, end } of ranges) {
          if (start < (store.view.generation("shared", "app.log#1")?.committedOffset ?? 0)) continue;
          const [outcome] = await store.commitGroup([{ ...batch({ endOffset: end }), startOffset: start }]);
          if (outcome!.decision === "apply") applied++;
        }
      }
      assert.equal(applied, ranges.length, "each range applied exactly once");
      for (const store of [first, second]) {
        await store.refresh();
        assert.equal(store.view.seriesOf(DEFAULT_METRIC, ["web-1", "backup"])?.count, ranges.length);
        assert.equal(store.view.generation("shared", "app.log#1")?.committedOffset, 600);
      }
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  test("a new generation opened by two aggregators at once is counted once", async () => {
    const url = await freshDatabase();
    const [first, second] = [await openStore(url), await openStore(url)];
    try {
      await commitBatch(first, batch());
      const next = {
        ...batch({ generation: "app.log#2", epoch: 2, endOffset: 30, deltas: [pairDelta("web-1", "restore", 1)] }),
        startOffset: 0,
      };
      const outcomes = (await Promise.all([first.commitGroup([next]), second.commitGroup([next])])).flat();
      assert.deepEqual(outcomes.map((outcome) => outcome.decision).sort(), ["apply", "duplicate"]);
      await second.refresh();
      assert.equal(second.view.seriesOf(DEFAULT_METRIC, ["web-1", "restore"])?.count, 1);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  test("the series limit is the database's, not each aggregator's", async () => {
    const url = await freshDatabase();
    const [first, second] = [await openStore(url, { maxSeries: 2 }), await openStore(url, { maxSeries: 2 })];
    try {
      await commitBatch(first, batch({ sourceId: "a", deltas: [pairDelta("one", "j", 1)] }));
      await commitBatch(second, batch({ sourceId: "b", deltas: [pairDelta("two", "j", 1)] }));
      const refused = await commitBatch(first, batch({ sourceId: "a", endOffset: 200, deltas: [pairDelta("three", "j", 1)] }));
      assert.equal(refused.refusedBySeriesLimit.length, 1);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  test("two aggregators registering one new metric at once: exactly one registers it, the other finds it known or in conflict", async () => {
    const url = await freshDatabase();
    const [first, second] = [await openStore(url), await openStore(url)];
    try {
      for (let round = 0; round < 10; round++) {
        const metric = `race_${round}`;
        const [a, b] = await Promise.all([
          first.registerMetric({ metric, labelNames: ["a"] }),
          second.registerMetric({ metric, labelNames: round % 2 === 0 ? ["a"] : ["b"] }),
        ]);
        const outcomes = [a.outcome, b.outcome].sort();
        assert.deepEqual(outcomes, round % 2 === 0 ? ["known", "registered"] : ["conflict", "registered"], `round ${round}`);
        // Both agree on what was registered, and so does the database.
        assert.deepEqual(a.definition, b.definition);
        assert.deepEqual(first.view.metric(metric)?.definition, second.view.metric(metric)?.definition);
      }
      const name = new URL(url).pathname.slice(1);
      assert.equal(await server!.psql("SELECT count(*) FROM logtally.metrics WHERE name LIKE 'race_%'", name), "10");
      // Series of a metric registered by one aggregator count through the other.
      await commitBatch(second, batch({ deltas: [{ metric: "race_0", labels: ["x"], count: 3 }] }));
      await first.refresh();
      assert.equal(first.view.seriesOf("race_0", ["x"])?.count, 3);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  test("a version 1 database keeps every count, under log_host_job_count, and its series limit", async () => {
    const url = await freshDatabase();
    const name = new URL(url).pathname.slice(1);
    // The tables as version 1 created them, holding two pairs (one whose labels JSON must escape).
    await server!.psql(
      `CREATE SCHEMA logtally;
       CREATE TABLE logtally.meta (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), application text NOT NULL,
         schema_version integer NOT NULL, revision bigint NOT NULL, series_count bigint NOT NULL);
       CREATE TABLE logtally.counts (host text NOT NULL, job_name text NOT NULL, count bigint NOT NULL, revision bigint NOT NULL,
         PRIMARY KEY (host, job_name));
       CREATE INDEX counts_revision ON logtally.counts (revision);
       CREATE TABLE logtally.generations (source_id text NOT NULL, generation text NOT NULL, file_id text NOT NULL, epoch integer NOT NULL,
         committed_offset bigint NOT NULL, anchor text NOT NULL, updated_ms bigint NOT NULL,
         file_birth_ms double precision NOT NULL, file_path text NOT NULL, revision bigint NOT NULL, PRIMARY KEY (source_id, generation));
       CREATE INDEX generations_file ON logtally.generations (source_id, file_id, epoch);
       CREATE INDEX generations_revision ON logtally.generations (revision);
       CREATE TABLE logtally.sources (source_id text PRIMARY KEY, created_ms bigint NOT NULL, latest_generation text NOT NULL,
         last_seen_ms bigint NOT NULL, last_sidecar_id text NOT NULL, revision bigint NOT NULL);
       CREATE INDEX sources_revision ON logtally.sources (revision);
       CREATE TABLE logtally.rejected_rows (reason text PRIMARY KEY, count bigint NOT NULL, revision bigint NOT NULL);
       CREATE INDEX rejected_rows_revision ON logtally.rejected_rows (revision);
       INSERT INTO logtally.meta (application, schema_version, revision, series_count) VALUES ('logtally', 1, 2, 2);
       INSERT INTO logtally.counts VALUES ('web-1', 'backup', 7, 1), ('say "hi" 日本', 'back\\slash', 1099511627776, 2);
       INSERT INTO logtally.generations VALUES ('shared', 'app.log#1', 'app.log', 1, 100, 'aa', 500, 0, '/var/log/app.log', 2);
       INSERT INTO logtally.sources VALUES ('shared', 400, 'app.log#1', 500, 'sidecar-1', 2);`,
      name,
    );
    const store = await openStore(url, { maxSeries: 3 });
    try {
      assert.equal(store.view.seriesOf(DEFAULT_METRIC, ["web-1", "backup"])?.count, 7);
      assert.equal(store.view.seriesOf(DEFAULT_METRIC, ['say "hi" 日本', "back\\slash"])?.count, 1_099_511_627_776);
      assert.equal(store.view.totalCounted(), 1_099_511_627_783);
      // The pairs keep their keys, and the series limit counts them: one new pair fits, the next does not.
      const applied = await commitBatch(
        store,
        batch({
          endOffset: 200,
          deltas: [pairDelta('say "hi" 日本', "back\\slash", 1), pairDelta("web-2", "backup", 1), pairDelta("web-3", "backup", 1)],
        }),
      );
      assert.deepEqual(applied.refusedBySeriesLimit, [pairDelta("web-3", "backup", 1)]);
      assert.equal(store.view.seriesOf(DEFAULT_METRIC, ['say "hi" 日本', "back\\slash"])?.count, 1_099_511_627_777);
      assert.equal(await server!.psql("SELECT schema_version || ' ' || revision FROM logtally.meta", name), `${POSTGRES_SCHEMA_VERSION} 3`);
      assert.equal(await server!.psql("SELECT series_count FROM logtally.metrics WHERE name = 'log_host_job_count'", name), "3");
    } finally {
      await store.close();
    }
  });

  test("the location it logs never holds the password", async () => {
    const url = await freshDatabase();
    const store = await openStore(url);
    try {
      assert.ok(!store.location.includes("s3cret-Pass"), store.location);
      assert.match(store.location, /^postgres:\/\/logtally:redacted@127\.0\.0\.1:\d+\/state_\d+$/);
    } finally {
      await store.close();
    }
  });

  test("a wrong password, an unreachable server and a database of another application are refused with a clear error", async () => {
    const url = await freshDatabase();
    await assert.rejects(openStore(withPassword(url, "wrong")), (error: unknown) => {
      assert.ok(error instanceof StateError);
      assert.match(error.message, /^cannot connect to PostgreSQL at postgres:\/\/logtally:redacted@.*password authentication failed/);
      assert.ok(!error.message.includes("wrong"));
      return true;
    });
    await assert.rejects(
      openStore("postgres://logtally@127.0.0.1:1/none"),
      /cannot connect to PostgreSQL at postgres:\/\/logtally@127\.0\.0\.1:1\/none: .*ECONNREFUSED/,
    );
    const foreign = await freshDatabase();
    await server!.psql("CREATE SCHEMA logtally; CREATE TABLE logtally.invoices (id int)", new URL(foreign).pathname.slice(1));
    await assert.rejects(openStore(foreign), /schema logtally at .* holds tables that are not logtally's \(invoices\)/);
  });

  test("a database written by a newer logtally is refused, and left as it was", async () => {
    const url = await freshDatabase();
    await (await openStore(url)).close();
    const name = new URL(url).pathname.slice(1);
    await server!.psql(`UPDATE logtally.meta SET schema_version = ${POSTGRES_SCHEMA_VERSION + 1}`, name);
    await assert.rejects(openStore(url), /have schema version 3, newer than this aggregator's 2/);
    assert.equal(await server!.psql("SELECT schema_version FROM logtally.meta", name), String(POSTGRES_SCHEMA_VERSION + 1));
  });

  test("two aggregators starting at once on an empty database both come up on one schema", async () => {
    const url = await freshDatabase();
    const stores = await Promise.all([openStore(url), openStore(url), openStore(url)]);
    await Promise.all(stores.map((store) => store.close()));
    assert.equal(await server!.psql("SELECT count(*) FROM logtally.meta", new URL(url).pathname.slice(1)), "1");
  });

  test("while the server is down commits fail as unreachable, and work again once it is back", async () => {
    const url = await freshDatabase();
    const store = await openStore(url);
    try {
      await commitBatch(store, batch());
      await server!.stop("immediate");
      try {
        const failure = await store.commitGroup([{ ...batch({ endOffset: 200 }), startOffset: 100 }]).then(
          () => assert.fail("a commit succeeded with the server down"),
          (error: unknown) => describeWriteFailure(error),
        );
        assert.equal(failure?.condition, "unreachable");
        assert.equal(failure?.message, "state database is unreachable: nothing was counted, retry later");
        await assert.rejects(store.probeWrite());
      } finally {
        await server!.restart();
      }
      await store.probeWrite();
      await commitBatch(store, batch({ endOffset: 200 }));
      assert.equal(store.view.generation("shared", "app.log#1")?.committedOffset, 200);
    } finally {
      await store.close();
    }
  });

  test("migrate-state copies a SQLite state exactly, and refuses a state in use, a missing one and a target not empty", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-migrate-"));
    try {
      const sqlite = SqliteStore.open(dir);
      await commitBatch(sqlite, batch({ rejected: [{ reason: "empty_field", count: 2 }] }));
      await commitBatch(sqlite, batch({ sourceId: "other", generation: "b.log#1", fileId: "b.log", endOffset: 40, deltas: [pairDelta("x", "y", 5)] }));
      const expected = sqlite.view.rows();
      const url = await freshDatabase();
      await assert.rejects(migrateState(dir, url, silent), /is in use by/);
      await sqlite.close();

      assert.deepEqual(await migrateState(dir, url, silent), { metrics: 1, series: 2, rows: 6, generations: 2, sources: 2 });
      const copied = await openStore(url);
      try {
        const sortedRows = (rows: ReturnType<SqliteStore["view"]["rows"]>) =>
          JSON.stringify(
            Object.fromEntries(Object.entries(rows).map(([table, list]) => [table, (list as unknown[]).map((row) => JSON.stringify(row)).sort()])),
          );
        assert.equal(sortedRows(copied.view.rows()), sortedRows(expected));
        // Counting goes on from the copied offsets.
        const [resent] = await copied.commitGroup([{ ...batch(), startOffset: 0 }]);
        assert.equal(resent!.decision, "duplicate");
      } finally {
        await copied.close();
      }
      await assert.rejects(migrateState(dir, url, silent), /already holds a logtally state \(1 commits\): a state is only copied into an empty one/);
      await assert.rejects(migrateState(path.join(dir, "missing"), await freshDatabase(), silent), /there is no state to copy/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a database that only reads (as a hot standby) fails commits as read-only while running, and is refused at start", async () => {
    const url = await freshDatabase();
    const name = new URL(url).pathname.slice(1);
    const store = await openStore(url);
    try {
      await commitBatch(store, batch());
      await server!.psql(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
      await server!.psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      // The pool's connections were ended (unreachable, once); the next ones only read.
      const conditions: Array<string | undefined> = [];
      for (let attempt = 0; attempt < 5 && conditions.at(-1) !== "read-only"; attempt++) {
        const failure = await store.commitGroup([{ ...batch({ endOffset: 200 }), startOffset: 100 }]).then(
          () => assert.fail("a commit succeeded on a read-only database"),
          (error: unknown) => describeWriteFailure(error),
        );
        conditions.push(failure?.condition);
      }
      assert.equal(conditions.at(-1), "read-only", conditions.join(", "));
    } finally {
      await store.close();
    }
    await assert.rejects(openStore(url), /cannot set up the logtally tables at .*: cannot execute UPDATE in a read-only transaction/);
  });

  test("a connection that breaks in the middle of a commit fails that commit, not the process", async () => {
    const url = await freshDatabase();
    const store = await openStore(url);
    // Another session holds the commit lock, so the store's commit waits inside its transaction.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await commitBatch(store, batch());
      await holder.query("BEGIN");
      await holder.query("SELECT revision FROM logtally.meta FOR UPDATE");
      const pending = store.commitGroup([{ ...batch({ endOffset: 200 }), startOffset: 100 }]);
      await waitUntil(async () => {
        const waiting = await holder.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'logtally-aggregator' AND wait_event_type = 'Lock'",
        );
        return waiting.rows[0].n > 0;
      });
      await holder.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'logtally-aggregator'");
      const failure = await pending.then(
        () => assert.fail("a commit on a terminated connection succeeded"),
        (error: unknown) => describeWriteFailure(error),
      );
      assert.equal(failure?.condition, "unreachable");
      await holder.query("ROLLBACK");
      await commitBatch(store, batch({ endOffset: 200 }));
      assert.equal(store.view.generation("shared", "app.log#1")?.committedOffset, 200);
    } finally {
      await holder.end();
      await store.close();
    }
  });
});

/** Polls `check` every 20 ms until it holds; fails after 10 s. */
async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (await check()) return;
  }
  assert.fail("timed out waiting");
}

import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { StateError } from "../errors";
import { SqliteStore } from "./sqlite-store";
import { DATABASE_FILE } from "./state-database";
import { HOLDER_FILE } from "./state-lock";
import { DEFAULT_METRIC } from "@logtally/proto";
import type { SeriesDelta } from "../ingest/series-limit";
import { commitBatchNow, pairDelta, testBatch, type TestBatch } from "../testing/commit-batch";
import { describeStoreConformance } from "../testing/store-conformance";

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-store-"));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

let dirCount = 0;
/** A state directory path of its own for each test; not created. */
function stateDir(): string {
  dirCount += 1;
  return path.join(tempRoot, `state-${dirCount}`);
}

describeStoreConformance({
  name: "SQLite",
  fresh: async () => stateDir(),
  open: async (location, options) => SqliteStore.open(location, options),
});

/** testBatch() with no file path reported. */
function change(overrides: Partial<TestBatch> = {}): TestBatch {
  return testBatch({ filePath: "", ...overrides });
}

/** Counts as sorted [host, job_name, count] triples. */
function countsOf(store: SqliteStore): Array<[string, string, number]> {
  return store.view
    .metric(DEFAULT_METRIC)!
    .series.map(({ labels: [host, jobName], count }): [string, string, number] => [host!, jobName!, count])
    .sort((a, b) => (`${a[0]}\u0000${a[1]}` < `${b[0]}\u0000${b[1]}` ? -1 : 1));
}

function rejectedOf(store: SqliteStore): Record<string, number> {
  return Object.fromEntries([...store.view.rejectedByReason()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The rows `sql` selects, each as the array of its values. */
function rowsOf(db: DatabaseSync, sql: string): unknown[][] {
  return db
    .prepare(sql)
    .all()
    .map((row) => Object.values(row));
}

function pragmaOf(db: DatabaseSync, name: string): unknown {
  return rowsOf(db, `PRAGMA ${name}`)[0]?.[0];
}

/** Reads what SQLite itself holds, bypassing the store's in-memory view. */
function readDatabase(dir: string) {
  const db = new DatabaseSync(path.join(dir, DATABASE_FILE), { readOnly: true });
  try {
    return {
      counts: rowsOf(
        db,
        "SELECT label_values ->> '$[0]' AS host, label_values ->> '$[1]' AS job_name, count FROM series WHERE metric = 'log_host_job_count' ORDER BY host, job_name",
      ),
      generations: rowsOf(db, "SELECT source_id, generation, file_id, epoch, committed_offset, anchor, updated_ms FROM generations ORDER BY 1, 2"),
      sources: rowsOf(db, "SELECT source_id, latest_generation, last_seen_ms, last_sidecar_id FROM sources ORDER BY 1"),
      rejected: rowsOf(db, "SELECT reason, count FROM rejected_rows ORDER BY reason"),
    };
  } finally {
    db.close();
  }
}

/** Opens a store, runs `body`, and closes the store even when `body` throws. */
function withStore<T>(dir: string, body: (store: SqliteStore) => T): T {
  const store = SqliteStore.open(dir);
  try {
    return body(store);
  } finally {
    store.close();
  }
}

test("open creates the state directory and the schema", () => {
  const dir = path.join(stateDir(), "nested", "deeper");
  withStore(dir, (store) => {
    assert.equal(store.location, path.resolve(dir, DATABASE_FILE));
    assert.equal(store.view.totalCounted(), 0);
    assert.equal(store.view.totalSeries(), 0);
    assert.equal(store.view.allSources().size, 0);
    assert.equal([...store.view.allGenerations()].length, 0);
    assert.equal(store.view.rejectedByReason().size, 0);
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 0);
    assert.equal(store.view.generation("pod-a", "app.log#1"), undefined);
  });
  assert.ok(fs.statSync(path.join(dir, DATABASE_FILE)).isFile());
  const db = new DatabaseSync(path.join(dir, DATABASE_FILE), { readOnly: true });
  try {
    const tables = rowsOf(db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").flat();
    assert.deepEqual(tables, ["generations", "metrics", "rejected_rows", "series", "sources"]);
    assert.equal(pragmaOf(db, "user_version"), 4);
    assert.equal(pragmaOf(db, "journal_mode"), "wal");
  } finally {
    db.close();
  }
});

test("apply updates counts, the generation, the source and rejected rows", () => {
  const dir = stateDir();
  withStore(dir, (store) => {
    commitBatchNow(store, change());
    commitBatchNow(
      store,
      change({
        endOffset: 250,
        anchor: "bb",
        sidecarId: "sidecar-2",
        nowMs: 2_000,
        deltas: [pairDelta("web-1", "backup", 4), pairDelta("web-1", "restore", 1)],
        rejected: [
          { reason: "empty_field", count: 2 },
          { reason: "something_newer", count: 5 },
          { reason: "other", count: 1 },
        ],
      }),
    );

    assert.deepEqual(countsOf(store), [
      ["web-1", "backup", 7],
      ["web-1", "restore", 1],
      ["web-2", "backup", 2],
    ]);
    assert.equal(store.view.totalCounted(), 10);
    assert.deepEqual(rejectedOf(store), { empty_field: 3, other: 6 });
    assert.deepEqual(
      { ...store.view.generation("pod-a", "app.log#1") },
      {
        sourceId: "pod-a",
        generation: "app.log#1",
        fileId: "app.log",
        epoch: 1,
        committedOffset: 250,
        anchor: "bb",
        updatedMs: 2_000,
        fileBirthMs: 0,
        filePath: "",
      },
    );
    assert.equal([...store.view.allGenerations()].length, 1);
    assert.deepEqual(
      { ...store.view.allSources().get("pod-a") },
      { sourceId: "pod-a", createdMs: 1_000, latestGeneration: "app.log#1", lastSeenMs: 2_000, lastSidecarId: "sidecar-2" },
    );
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 1);
  });
  assert.deepEqual(readDatabase(dir), {
    counts: [
      ["web-1", "backup", 7],
      ["web-1", "restore", 1],
      ["web-2", "backup", 2],
    ],
    generations: [["pod-a", "app.log#1", "app.log", 1, 250, "bb", 2_000]],
    sources: [["pod-a", "app.log#1", 2_000, "sidecar-2"]],
    rejected: [
      ["empty_field", 3],
      ["other", 6],
    ],
  });
});

test("state survives close and reopen", () => {
  const dir = stateDir();
  withStore(dir, (store) => {
    commitBatchNow(store, change());
    // The ledger opens epoch 2 only after epoch 1.
    commitBatchNow(store, change({ sourceId: "pod-b", generation: "err.log#1", fileId: "err.log", endOffset: 10, nowMs: 1_500, deltas: [], rejected: [] }));
    commitBatchNow(
      store,
      change({
        sourceId: "pod-b",
        generation: "err.log#2",
        fileId: "err.log",
        epoch: 2,
        endOffset: 40,
        anchor: "cc",
        fileBirthMs: 777.25,
        filePath: "/var/log/pods/b/err.log",
        nowMs: 1_500,
        deltas: [pairDelta("db-1", "vacuum", 9)],
        rejected: [{ reason: "no_such_reason", count: 4 }],
      }),
    );
    commitBatchNow(
      store,
      change({
        endOffset: 180,
        anchor: "dd",
        // The first creation time reported for a generation is kept.
        fileBirthMs: 1_234.5,
        nowMs: 3_000,
        sidecarId: "sidecar-3",
        deltas: [pairDelta("web-2", "backup", 1)],
        rejected: [],
      }),
    );
  });

  withStore(dir, (store) => {
    assert.deepEqual(countsOf(store), [
      ["db-1", "vacuum", 9],
      ["web-1", "backup", 3],
      ["web-2", "backup", 3],
    ]);
    assert.equal(store.view.totalCounted(), 15);
    assert.deepEqual(rejectedOf(store), { empty_field: 1, other: 4 });
    assert.deepEqual(
      { ...store.view.generation("pod-a", "app.log#1") },
      {
        sourceId: "pod-a",
        generation: "app.log#1",
        fileId: "app.log",
        epoch: 1,
        committedOffset: 180,
        anchor: "dd",
        updatedMs: 3_000,
        fileBirthMs: 1_234.5,
        filePath: "",
      },
    );
    assert.deepEqual(
      { ...store.view.generation("pod-b", "err.log#2") },
      {
        sourceId: "pod-b",
        generation: "err.log#2",
        fileId: "err.log",
        epoch: 2,
        committedOffset: 40,
        anchor: "cc",
        updatedMs: 1_500,
        fileBirthMs: 777.25,
        filePath: "/var/log/pods/b/err.log",
      },
    );
    assert.equal(store.view.generation("pod-a", "err.log#2"), undefined);
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 1);
    assert.equal(store.view.latestEpoch("pod-b", "err.log"), 2);
    assert.equal(store.view.latestEpoch("pod-a", "err.log"), 0);
    assert.deepEqual(
      [...store.view.allSources().values()].map((source) => ({ ...source })).sort((a, b) => (a.sourceId < b.sourceId ? -1 : 1)),
      [
        { sourceId: "pod-a", createdMs: 1_000, latestGeneration: "app.log#1", lastSeenMs: 3_000, lastSidecarId: "sidecar-3" },
        { sourceId: "pod-b", createdMs: 1_500, latestGeneration: "err.log#2", lastSeenMs: 1_500, lastSidecarId: "sidecar-1" },
      ],
    );

    // Counting continues on top of the reloaded state.
    commitBatchNow(store, change({ endOffset: 190, fileBirthMs: 99, deltas: [pairDelta("web-1", "backup", 2)], rejected: [] }));
    assert.deepEqual(countsOf(store)[1], ["web-1", "backup", 5]);
    assert.equal(store.view.generation("pod-a", "app.log#1")?.fileBirthMs, 1_234.5);
    assert.equal(store.view.totalCounted(), 17);
  });
});

test("latestEpoch tracks the highest epoch per (source, file)", () => {
  const dir = stateDir();
  const epoch = (sourceId: string, fileId: string, n: number, endOffset: number) =>
    change({ sourceId, fileId, epoch: n, generation: `${fileId}#${n}`, endOffset, deltas: [], rejected: [] });
  withStore(dir, (store) => {
    commitBatchNow(store, epoch("pod-a", "app.log", 1, 10));
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 1);
    commitBatchNow(store, epoch("pod-a", "app.log", 2, 5));
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 2);
    // A late batch of the older epoch moves its offset, not the latest epoch.
    commitBatchNow(store, epoch("pod-a", "app.log", 1, 20));
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 2);
    assert.equal(store.view.generation("pod-a", "app.log#1")?.committedOffset, 20);
    // Other sources and other files keep their own epochs.
    commitBatchNow(store, epoch("pod-b", "app.log", 1, 7));
    for (const n of [1, 2, 3]) commitBatchNow(store, epoch("pod-a", "err.log", n, 7));
    assert.equal(store.view.latestEpoch("pod-b", "app.log"), 1);
    assert.equal(store.view.latestEpoch("pod-a", "err.log"), 3);
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 2);
    assert.equal(store.view.latestEpoch("pod-b", "err.log"), 0);
  });
  withStore(dir, (store) => {
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 2);
    assert.equal(store.view.latestEpoch("pod-b", "app.log"), 1);
    assert.equal(store.view.latestEpoch("pod-a", "err.log"), 3);
    assert.equal(store.view.latestEpoch("pod-b", "err.log"), 0);
  });
});

test("a transaction that fails midway changes nothing, on disk or in memory", () => {
  const dir = stateDir();
  const before = {
    counts: [
      ["web-1", "backup", 3],
      ["web-2", "backup", 2],
    ] as Array<[string, string, number]>,
    generation: {
      sourceId: "pod-a",
      generation: "app.log#1",
      fileId: "app.log",
      epoch: 1,
      committedOffset: 100,
      anchor: "aa",
      updatedMs: 1_000,
      fileBirthMs: 0,
      filePath: "",
    },
    source: { sourceId: "pod-a", createdMs: 1_000, latestGeneration: "app.log#1", lastSeenMs: 1_000, lastSidecarId: "sidecar-1" },
    rejected: { empty_field: 1 },
  };
  const assertUnchanged = (store: SqliteStore, when: string) => {
    assert.deepEqual(countsOf(store), before.counts, when);
    assert.equal(store.view.totalCounted(), 5, when);
    assert.deepEqual({ ...store.view.generation("pod-a", "app.log#1") }, before.generation, when);
    assert.deepEqual({ ...store.view.allSources().get("pod-a") }, before.source, when);
    assert.deepEqual(rejectedOf(store), before.rejected, when);
    assert.equal(store.view.generation("pod-a", "app.log#2"), undefined, when);
    assert.equal(store.view.latestEpoch("pod-a", "app.log"), 1, when);
  };

  withStore(dir, (store) => {
    commitBatchNow(store, change());
    // The first delta and the rejected rows would succeed; the last one would
    // take web-1/backup to 3 - 4 = -1, which the CHECK constraint refuses.
    const failing = (overrides: Partial<TestBatch>) =>
      change({
        endOffset: 200,
        anchor: "ff",
        sidecarId: "sidecar-9",
        nowMs: 9_000,
        deltas: [pairDelta("web-3", "backup", 6), pairDelta("web-2", "backup", 1), pairDelta("web-1", "backup", -4)],
        rejected: [{ reason: "empty_field", count: 8 }],
        ...overrides,
      });
    assert.throws(() => commitBatchNow(store, failing({})), /CHECK constraint failed/);
    assertUnchanged(store, "in memory, same generation");
    // A failing first batch of a new epoch must not make that epoch the latest.
    assert.throws(() => commitBatchNow(store, failing({ generation: "app.log#2", epoch: 2 })), /CHECK constraint failed/);
    assertUnchanged(store, "in memory, next epoch");
  });
  assert.deepEqual(readDatabase(dir), {
    counts: before.counts,
    generations: [["pod-a", "app.log#1", "app.log", 1, 100, "aa", 1_000]],
    sources: [["pod-a", "app.log#1", 1_000, "sidecar-1"]],
    rejected: [["empty_field", 1]],
  });
  withStore(dir, (store) => {
    assertUnchanged(store, "after reopen");
    // The store is still usable after a failed transaction.
    commitBatchNow(store, change({ endOffset: 150, deltas: [pairDelta("web-1", "backup", 1)], rejected: [] }));
    assert.equal(store.view.generation("pod-a", "app.log#1")?.committedOffset, 150);
    assert.equal(store.view.totalCounted(), 6);
  });
});

test("a garbage database file is refused with its path and how to recover", () => {
  const dir = stateDir();
  fs.mkdirSync(dir);
  const databasePath = path.join(dir, DATABASE_FILE);
  const garbage = crypto.randomBytes(4096);
  fs.writeFileSync(databasePath, garbage);

  assert.throws(
    () => SqliteStore.open(dir),
    (error: unknown) => {
      assert.ok(error instanceof StateError, `not a StateError: ${String(error)}`);
      assert.equal(error.path, databasePath);
      assert.ok(error.message.includes(databasePath), error.message);
      assert.match(error.message, /Restore it from a backup, or move it aside to start counting from zero/);
      assert.ok(error.cause instanceof Error);
      return true;
    },
  );
  // Nothing was written over the file: whoever recovers it finds it as it was.
  assert.deepEqual(fs.readFileSync(databasePath), garbage);
});

/** The tables of schema version 1, as that aggregator created them. */
const VERSION_1_TABLES = `
    CREATE TABLE counts (host TEXT NOT NULL, job_name TEXT NOT NULL, count INTEGER NOT NULL CHECK (count >= 0),
      PRIMARY KEY (host, job_name)) WITHOUT ROWID;
    CREATE TABLE generations (source_id TEXT NOT NULL, generation TEXT NOT NULL, file_id TEXT NOT NULL,
      epoch INTEGER NOT NULL, committed_offset INTEGER NOT NULL CHECK (committed_offset >= 0), anchor TEXT NOT NULL,
      updated_ms INTEGER NOT NULL, PRIMARY KEY (source_id, generation)) WITHOUT ROWID;
    CREATE TABLE sources (source_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, latest_generation TEXT NOT NULL,
      last_seen_ms INTEGER NOT NULL, last_sidecar_id TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE rejected_rows (reason TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
`;

test("a version 1 database is migrated in place, keeping its state", () => {
  const dir = stateDir();
  fs.mkdirSync(dir);
  const db = new DatabaseSync(path.join(dir, DATABASE_FILE));
  db.exec(`
    ${VERSION_1_TABLES}
    INSERT INTO counts VALUES ('web-1', 'backup', 7);
    INSERT INTO generations VALUES ('pod-a', 'app.log#1', 'app.log', 1, 120, 'ab', 500);
    INSERT INTO sources VALUES ('pod-a', 400, 'app.log#1', 500, 'sidecar-1');
    PRAGMA user_version = 1;
  `);
  db.close();

  withStore(dir, (store) => {
    assert.deepEqual(countsOf(store), [["web-1", "backup", 7]]);
    assert.equal(store.view.generation("pod-a", "app.log#1")?.committedOffset, 120);
    assert.equal(store.view.generation("pod-a", "app.log#1")?.fileBirthMs, 0);
    commitBatchNow(store, change({ endOffset: 130, fileBirthMs: 42, deltas: [], rejected: [] }));
  });
  withStore(dir, (store) => assert.equal(store.view.generation("pod-a", "app.log#1")?.fileBirthMs, 42));
  const reopened = new DatabaseSync(path.join(dir, DATABASE_FILE), { readOnly: true });
  try {
    assert.equal(pragmaOf(reopened, "user_version"), 4);
  } finally {
    reopened.close();
  }
});

test("a database from a newer schema is refused", () => {
  const dir = stateDir();
  fs.mkdirSync(dir);
  const databasePath = path.join(dir, DATABASE_FILE);
  const db = new DatabaseSync(databasePath);
  db.exec("PRAGMA user_version = 5");
  db.close();
  assert.throws(
    () => SqliteStore.open(dir),
    (error: unknown) =>
      error instanceof StateError && error.path === databasePath && error.message.includes("schema version 5 is newer than this aggregator understands (4)"),
  );
});

test("a version 3 state opens with every count under log_host_job_count, and goes on counting", () => {
  const dir = stateDir();
  fs.mkdirSync(dir);
  const db = new DatabaseSync(path.join(dir, DATABASE_FILE));
  // The schema as version 3 wrote it, with pairs whose labels JSON must escape.
  db.exec(`
    ${VERSION_1_TABLES}
    ALTER TABLE generations ADD COLUMN file_birth_ms REAL NOT NULL DEFAULT 0;
    ALTER TABLE generations ADD COLUMN file_path TEXT NOT NULL DEFAULT '';
    INSERT INTO counts VALUES ('web-1', 'backup', 7), ('say "hi"', 'back\\slash', 1099511627776), ('日本', 'ü', 1);
    INSERT INTO generations VALUES ('pod-a', 'app.log#1', 'app.log', 1, 100, 'aa', 500, 0, '/var/log/app.log');
    INSERT INTO sources VALUES ('pod-a', 400, 'app.log#1', 500, 'sidecar-1');
    INSERT INTO rejected_rows VALUES ('empty_field', 3);
    PRAGMA user_version = 3;
  `);
  db.close();
  const expected: Array<[string, string, number]> = [
    ['say "hi"', "back\\slash", 1_099_511_627_776],
    ["web-1", "backup", 7],
    ["日本", "ü", 1],
  ];

  withStore(dir, (store) => {
    assert.deepEqual(countsOf(store), expected);
    assert.equal(store.view.totalCounted(), 1_099_511_627_776 + 8);
    assert.deepEqual(rejectedOf(store), { empty_field: 3 });
    assert.deepEqual(store.view.metric(DEFAULT_METRIC)?.definition, { name: DEFAULT_METRIC, labelNames: ["host", "job_name"], kind: "gauge" });
    // The pairs keep their keys: counting one adds to it rather than making another.
    commitBatchNow(
      store,
      change({ endOffset: 150, deltas: [pairDelta("web-1", "backup", 2), pairDelta('say "hi"', "back\\slash", 0 + 1 - 1 || 1)], rejected: [] }),
    );
  });
  withStore(dir, (store) => {
    assert.deepEqual(countsOf(store), [
      ['say "hi"', "back\\slash", 1_099_511_627_777],
      ["web-1", "backup", 9],
      ["日本", "ü", 1],
    ]);
    assert.equal(store.view.generation("pod-a", "app.log#1")?.committedOffset, 150);
  });
  const reopened = new DatabaseSync(path.join(dir, DATABASE_FILE), { readOnly: true });
  try {
    assert.equal(pragmaOf(reopened, "user_version"), 4);
    assert.deepEqual(rowsOf(reopened, "SELECT name FROM sqlite_schema WHERE name = 'counts'"), []);
  } finally {
    reopened.close();
  }
});

test("a state directory that is a regular file is refused", () => {
  const file = stateDir();
  fs.writeFileSync(file, "not a directory\n");
  assert.throws(
    () => SqliteStore.open(file),
    (error: unknown) => error instanceof StateError && error.path === file && error.message === `cannot create state directory ${path.resolve(file)}`,
  );
  assert.equal(fs.readFileSync(file, "utf8"), "not a directory\n");
});

test("close is idempotent and later applies fail", () => {
  const dir = stateDir();
  const store = SqliteStore.open(dir);
  commitBatchNow(store, change());
  store.close();
  assert.doesNotThrow(() => store.close());
  assert.throws(() => commitBatchNow(store, change({ endOffset: 300 })), /state database is closed/);
  // The in-memory view stays readable and unchanged.
  assert.equal(store.view.totalCounted(), 5);
  withStore(dir, (reopened) => assert.equal(reopened.view.generation("pod-a", "app.log#1")?.committedOffset, 100));
});

test("beyond maxSeries pairs, rows of new pairs are rejected as series_limit in the batch's transaction; existing pairs keep counting", () => {
  const dir = stateDir();
  const open = (maxSeries: number): SqliteStore => SqliteStore.open(dir, { maxSeries });
  const first = open(3);
  try {
    assert.equal(first.view.maxSeries, 3);
    const applied = commitBatchNow(first, change({ rejected: [] }));
    assert.deepEqual(applied.refusedBySeriesLimit, []);
    // web-1 exists; web-3 takes the last free series; web-4 and web-5 do not fit.
    const refused = commitBatchNow(
      first,
      change({
        endOffset: 200,
        deltas: [pairDelta("web-4", "backup", 7), pairDelta("web-1", "backup", 1), pairDelta("web-3", "backup", 2), pairDelta("web-5", "backup", 4)],
        rejected: [{ reason: "empty_field", count: 1 }],
      }),
    );
    // web-4 comes first in the batch, so it, not web-3, takes the free series.
    assert.deepEqual(refused.refusedBySeriesLimit, [pairDelta("web-3", "backup", 2), pairDelta("web-5", "backup", 4)]);
    const expected = [
      ["web-1", "backup", 4],
      ["web-2", "backup", 2],
      ["web-4", "backup", 7],
    ];
    assert.deepEqual(countsOf(first), expected);
    assert.equal(first.view.totalCounted(), 13);
    assert.deepEqual(rejectedOf(first), { empty_field: 1, series_limit: 6 });
    assert.equal(first.view.generation("pod-a", "app.log#1")?.committedOffset, 200, "the batch's range is done");
  } finally {
    first.close();
  }
  assert.deepEqual(readDatabase(dir).counts, [
    ["web-1", "backup", 4],
    ["web-2", "backup", 2],
    ["web-4", "backup", 7],
  ]);
  assert.deepEqual(readDatabase(dir).rejected, [
    ["empty_field", 1],
    ["series_limit", 6],
  ]);
  // Reopened with a lower limit: nothing is dropped, existing pairs count, new ones do not.
  const second = open(2);
  try {
    const applied = commitBatchNow(
      second,
      change({
        endOffset: 300,
        deltas: [pairDelta("web-2", "backup", 1), pairDelta("web-6", "backup", 1)],
        rejected: [],
      }),
    );
    assert.deepEqual(applied.refusedBySeriesLimit, [pairDelta("web-6", "backup", 1)]);
    assert.deepEqual(countsOf(second), [
      ["web-1", "backup", 4],
      ["web-2", "backup", 3],
      ["web-4", "backup", 7],
    ]);
    assert.deepEqual(rejectedOf(second), { empty_field: 1, series_limit: 7 });
  } finally {
    second.close();
  }
});

test("a state held by an open store is refused to a second one, which names the holder", () => {
  const dir = stateDir();
  const holder = SqliteStore.open(dir);
  try {
    assert.throws(
      () => SqliteStore.open(dir),
      (error: unknown) =>
        error instanceof StateError && new RegExp(`is in use by another aggregator \\(pid ${process.pid} on `).test(error.message) && error.path === dir,
    );
    commitBatchNow(holder, change());
  } finally {
    holder.close();
  }
  assert.ok(!fs.existsSync(path.join(dir, HOLDER_FILE)), "a store closed forgets itself as the holder");
  withStore(dir, (reopened) => assert.equal(reopened.view.totalCounted(), 5));
});

test("a large group is written in slices: the event loop turns meanwhile, and a failure in a late slice changes nothing", async () => {
  const dir = stateDir();
  const store = SqliteStore.open(dir);
  try {
    const many = (count: number, last?: SeriesDelta) =>
      Array.from({ length: count }, (_, index) => pairDelta(`host-${index}`, "backup", 1)).concat(last ? [last] : []);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      await store.commitGroup([{ ...change({ deltas: many(5_000), rejected: [] }), startOffset: 0 }]);
    } finally {
      clearInterval(ticker);
    }
    assert.ok(turns >= 1, "timers ran while the group was written");
    assert.equal(store.view.totalCounted(), 5_000);
    // The last row of the next group breaks the CHECK constraint, after several slices went in.
    await assert.rejects(
      store.commitGroup([{ ...change({ endOffset: 200, deltas: many(5_000, pairDelta("host-last", "backup", -9)), rejected: [] }), startOffset: 100 }]),
      /CHECK constraint failed/,
    );
    assert.equal(store.view.totalCounted(), 5_000);
    assert.equal(store.view.generation("pod-a", "app.log#1")?.committedOffset, 100);
  } finally {
    await store.close();
  }
  const counts = readDatabase(dir).counts as Array<[string, string, number]>;
  assert.equal(
    counts.reduce((sum, [, , count]) => sum + count, 0),
    5_000,
  );
});

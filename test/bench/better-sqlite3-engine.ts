import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type { SqliteDatabase } from "@logtally/aggregator";

/**
 * Where scripts/bench.sh (ensure_better_sqlite3) installs better-sqlite3:
 * outside the workspaces, since logtally no longer depends on it and only the
 * engines figure loads it.
 */
export const BETTER_SQLITE3_PREFIX = path.resolve(__dirname, "../../.cache/bench/better-sqlite3");

/** What StateDatabase uses of a better-sqlite3 statement. */
interface BetterSqlite3Statement {
  run(...parameters: unknown[]): unknown;
  all(...parameters: unknown[]): unknown[];
  get(...parameters: unknown[]): unknown;
}

/** What StateDatabase uses of a better-sqlite3 Database, under the names better-sqlite3 gives it. */
interface BetterSqlite3Database {
  exec(sql: string): unknown;
  prepare(sql: string): BetterSqlite3Statement;
  readonly inTransaction: boolean;
  close(): unknown;
}

/** better-sqlite3, loaded: its version and how to open a database with it as StateDatabase's engine. */
export interface BetterSqlite3Engine {
  /** The installed package's version, e.g. `13.2.0`. */
  readonly version: string;
  /** The SQLite library compiled into it, e.g. `3.54.1`. */
  readonly sqliteVersion: string;
  /** Opens (creating) `databasePath`: an `openDatabase` for StateDatabase.open(). */
  open(databasePath: string): SqliteDatabase;
}

/**
 * Loads better-sqlite3 from {@link BETTER_SQLITE3_PREFIX}; throws, saying how
 * to install it, when it is not there or does not load on this Node.js.
 */
export function loadBetterSqlite3(): BetterSqlite3Engine {
  const requireFromPrefix = createRequire(path.join(BETTER_SQLITE3_PREFIX, "package.json"));
  const install = `npm run bench -- --only engines installs it (ensure_better_sqlite3 in scripts/bench.sh)`;
  if (!fs.existsSync(path.join(BETTER_SQLITE3_PREFIX, "node_modules/better-sqlite3/package.json"))) {
    throw new Error(`better-sqlite3 is not installed in ${BETTER_SQLITE3_PREFIX}: ${install}`);
  }
  let Database: new (filename: string) => BetterSqlite3Database;
  try {
    Database = requireFromPrefix("better-sqlite3");
  } catch (cause) {
    throw new Error(`better-sqlite3 in ${BETTER_SQLITE3_PREFIX} does not load on Node.js ${process.version}: ${(cause as Error).message}; ${install}`, {
      cause,
    });
  }
  const { version } = requireFromPrefix("better-sqlite3/package.json") as { version: string };
  const probe = new Database(":memory:");
  const { sqliteVersion } = probe.prepare("SELECT sqlite_version() AS sqliteVersion").get() as { sqliteVersion: string };
  probe.close();
  return { version, sqliteVersion, open: (databasePath) => adapt(new Database(databasePath)) };
}

/**
 * A better-sqlite3 Database under node:sqlite's names, for what StateDatabase
 * calls: exec, prepare (whose statements take the same named-object or
 * positional parameters and return rows as objects), isTransaction and close.
 * Errors keep better-sqlite3's shape (SqliteError with a string `code`), so
 * StateDatabase would not classify a failure: a benchmark has none to classify.
 */
function adapt(db: BetterSqlite3Database): SqliteDatabase {
  const engine = {
    exec: (sql: string): void => {
      db.exec(sql);
    },
    prepare: (sql: string): BetterSqlite3Statement => db.prepare(sql),
    get isTransaction(): boolean {
      return db.inTransaction;
    },
    close: (): void => {
      db.close();
    },
  };
  // The one cast: StateDatabase calls nothing of DatabaseSync beyond these four.
  return engine as unknown as SqliteDatabase;
}

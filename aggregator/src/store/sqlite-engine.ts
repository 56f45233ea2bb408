import type { DatabaseSync } from "node:sqlite";

/** The SQLite engine: `node:sqlite`, which ships with Node.js (no native build to install). */
export type SqliteDatabase = DatabaseSync;

/** The engine cannot be loaded: the installation or the runtime is wrong, the state is not. */
export class SqliteEngineError extends Error {
  override readonly name = "SqliteEngineError";
}

/** SQLite's primary result codes that logtally tells apart (https://sqlite.org/rescode.html). */
export const SqliteResult = {
  PERM: 3,
  BUSY: 5,
  READONLY: 8,
  IOERR: 10,
  FULL: 13,
  CANTOPEN: 14,
} as const;

/** The primary result code of an error thrown by the engine, or undefined for any other error. */
export function sqliteResultCode(error: unknown): number | undefined {
  const { code, errcode } = (error ?? {}) as { code?: unknown; errcode?: unknown };
  if (code !== "ERR_SQLITE_ERROR" || typeof errcode !== "number") return undefined;
  // Extended codes (SQLITE_IOERR_WRITE = 778) carry the primary code in their low byte.
  return errcode & 0xff;
}

type Engine = typeof import("node:sqlite");

/**
 * Opens `databasePath` with node:sqlite, loaded when a state is opened so that a
 * runtime without it (Node.js older than 22.13) is told as much, and not as
 * a failure of the state. `load` is replaceable for tests.
 */
export function openSqlite(databasePath: string, load: () => Engine = () => require("node:sqlite") as Engine): SqliteDatabase {
  let sqlite: Engine;
  try {
    sqlite = load();
  } catch (cause) {
    throw new SqliteEngineError(
      `cannot load the SQLite engine (node:sqlite) in Node.js ${process.version}: ${(cause as Error).message}. ` +
        "logtally needs Node.js 24 or newer; the state was not touched",
      { cause },
    );
  }
  return new sqlite.DatabaseSync(databasePath);
}

/** The value a `PRAGMA name` query answers with (its one row's one column). */
export function pragmaValue(db: SqliteDatabase, name: string): unknown {
  const row = db.prepare(`PRAGMA ${name}`).get();
  return row ? Object.values(row)[0] : undefined;
}

/** Runs `body` in one transaction: committed when it returns, rolled back when it throws. */
export function inTransaction<T>(db: SqliteDatabase, body: () => T): T {
  db.exec("BEGIN");
  try {
    const result = body();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

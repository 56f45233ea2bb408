import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openSqlite, SqliteEngineError, sqliteResultCode, SqliteResult } from "./sqlite-engine";

test("a runtime without node:sqlite is an engine error that names the runtime, not a damaged state", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "logtally-engine-")), "logtally.db");
  const missing = () => {
    throw Object.assign(new Error("No such built-in module: node:sqlite"), { code: "ERR_UNKNOWN_BUILTIN_MODULE" });
  };
  assert.throws(
    () => openSqlite(file, missing),
    (error: unknown) =>
      error instanceof SqliteEngineError &&
      error.message.includes(`(node:sqlite) in Node.js ${process.version}: No such built-in module`) &&
      error.message.includes("needs Node.js 24 or newer") &&
      !/restore|move it aside|backup/i.test(error.message),
  );
  assert.equal(fs.existsSync(file), false, "nothing was created");
});

test("the engine's errors give their primary result code, extended codes included", () => {
  const db = openSqlite(":memory:");
  try {
    db.exec("CREATE TABLE t (x INTEGER NOT NULL)");
    let thrown: unknown;
    try {
      db.exec("INSERT INTO t VALUES (NULL)");
    } catch (error) {
      thrown = error;
    }
    assert.equal(sqliteResultCode(thrown), 19, "SQLITE_CONSTRAINT");
    assert.equal(sqliteResultCode(Object.assign(new Error("io"), { code: "ERR_SQLITE_ERROR", errcode: 778 })), SqliteResult.IOERR);
    assert.equal(sqliteResultCode(new Error("not the engine's")), undefined);
  } finally {
    db.close();
  }
});

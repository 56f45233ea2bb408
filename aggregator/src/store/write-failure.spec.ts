import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describeWriteFailure } from "./write-failure";

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-write-failure-"));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

test("a write to a database opened read-only is a read-only condition, answered UNAVAILABLE", () => {
  const file = path.join(tempRoot, "read-only.db");
  const writer = new DatabaseSync(file);
  writer.exec("CREATE TABLE t (x INTEGER)");
  writer.close();
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    let thrown: unknown;
    try {
      db.exec("INSERT INTO t VALUES (1)");
    } catch (error) {
      thrown = error;
    }
    const failure = describeWriteFailure(thrown);
    assert.equal(failure?.condition, "read-only");
    assert.equal(failure?.code, status.UNAVAILABLE);
    assert.equal(failure?.message, "state database is read-only: nothing was counted, retry later");
  } finally {
    db.close();
  }
});

test("a full disk is RESOURCE_EXHAUSTED, an I/O error UNAVAILABLE, anything else a defect", () => {
  // node:sqlite's errors: the result code in errcode, extended codes included (SQLITE_IOERR_WRITE is 778).
  const sqliteError = (errcode: number) => Object.assign(new Error("engine"), { code: "ERR_SQLITE_ERROR", errcode });
  assert.equal(describeWriteFailure(sqliteError(13))?.code, status.RESOURCE_EXHAUSTED);
  assert.equal(describeWriteFailure(sqliteError(778))?.condition, "I/O error");
  assert.equal(describeWriteFailure(sqliteError(275)), undefined, "SQLITE_CONSTRAINT_CHECK");
  assert.equal(describeWriteFailure(new TypeError("a bug")), undefined);
});

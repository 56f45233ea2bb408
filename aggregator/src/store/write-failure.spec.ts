import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import Database from "better-sqlite3";
import { describeWriteFailure } from "./write-failure";

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-write-failure-"));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

test("a write to a database opened read-only is a read-only condition, answered UNAVAILABLE", () => {
  const file = path.join(tempRoot, "read-only.db");
  new Database(file).exec("CREATE TABLE t (x INTEGER)").close();
  const db = new Database(file, { readonly: true });
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
  assert.equal(describeWriteFailure(Object.assign(new Error("full"), { code: "SQLITE_FULL" }))?.code, status.RESOURCE_EXHAUSTED);
  assert.equal(describeWriteFailure(Object.assign(new Error("io"), { code: "SQLITE_IOERR_WRITE" }))?.condition, "I/O error");
  assert.equal(describeWriteFailure(Object.assign(new Error("constraint"), { code: "SQLITE_CONSTRAINT_CHECK" })), undefined);
  assert.equal(describeWriteFailure(new TypeError("a bug")), undefined);
});

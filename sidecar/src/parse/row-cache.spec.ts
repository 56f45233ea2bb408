import assert from "node:assert/strict";
import { test } from "node:test";
import { RowCache } from "./row-cache";
import { parseRow } from "./row-parser";

const bytesOf = (text: string) => Buffer.from(text, "utf8");

/** The id of `text` placed in the middle of a larger buffer, as lines arrive inside chunks. */
function idIn(cache: RowCache, text: string): number {
  const line = bytesOf(text);
  const chunk = Buffer.concat([bytesOf("xx\n"), line, bytesOf("\nyy")]);
  return cache.idOf(chunk, 3, 3 + line.length);
}

test("a repeated line gets the same id and one shared parse result", () => {
  const cache = new RowCache();
  const id = idIn(cache, "web-1,backup");
  assert.equal(idIn(cache, "web-1,backup"), id);
  assert.deepEqual(cache.row(id), { kind: "row", labels: ["web-1", "backup"] });
  assert.notEqual(idIn(cache, "web-1, backup"), id, "other bytes, other line");
  assert.equal(cache.size, 2);
});

test("results equal the parser's for every kind of line, and the first sight is like any other", () => {
  const cache = new RowCache();
  const lines = ["a,b", '"a ""x""",b', "a", "", "  ", 'a,"b', "a,\u0001", "é,ü", `${"x".repeat(300)},y`, "a,b\r", "host,job_name"];
  for (let round = 0; round < 2; round++) {
    for (const text of lines) assert.deepEqual(cache.row(idIn(cache, text)), parseRow(bytesOf(text), false), JSON.stringify(text));
  }
  const invalid = Buffer.from([0x61, 0x2c, 0xc3]);
  const valid = Buffer.from([0x61, 0x2c, 0xc3, 0xa9]);
  assert.deepEqual(cache.row(cache.idOf(invalid, 0, invalid.length)), { kind: "rejected", reason: "invalid_utf8" });
  assert.deepEqual(cache.row(cache.idOf(valid, 0, valid.length)), { kind: "row", labels: ["a", "é"] });
});

test("many lines in a small table: colliding slots never confuse two lines", () => {
  const cache = new RowCache(512, 1 << 16);
  const ids = new Map<string, number>();
  for (let i = 0; i < 512; i++) ids.set(`h${i},j${i % 7}`, idIn(cache, `h${i},j${i % 7}`));
  assert.equal(new Set(ids.values()).size, 512);
  for (const [text, id] of ids) {
    assert.equal(idIn(cache, text), id, text);
    const row = cache.row(id);
    assert.equal(row.kind === "row" && row.labels.join(","), text);
  }
});

test("lines of every length that differ in one byte only are told apart, wherever they lie in the buffer", () => {
  // Lines are hashed and compared four bytes at a time: a difference in any
  // byte of a word, or of the up to three bytes after the last word, counts.
  const cache = new RowCache(4096, 1 << 20);
  const ids = new Map<string, number>();
  for (let length = 1; length <= 24; length++) {
    const base = "a,".padEnd(length, "b").slice(0, length);
    const variants = [base, ...Array.from({ length }, (_, at) => `${base.slice(0, at)}${base[at] === "x" ? "y" : "x"}${base.slice(at + 1)}`)];
    for (const text of variants) {
      for (let offset = 0; offset < 4; offset++) {
        const chunk = Buffer.concat([Buffer.alloc(offset, 0x7c), Buffer.from(text), Buffer.from("\n")]);
        const id = cache.idOf(chunk, offset, offset + text.length);
        assert.equal(ids.get(text) ?? id, id, `${JSON.stringify(text)} at offset ${offset}`);
        ids.set(text, id);
      }
    }
  }
  assert.equal(new Set(ids.values()).size, ids.size);
});

test("a full cache answers -1 for new lines, still finds the old ones, and starts over when cleared", () => {
  const cache = new RowCache(4, 1 << 10);
  const kept = Array.from({ length: 4 }, (_, i) => idIn(cache, `h${i},j`));
  assert.equal(idIn(cache, "h4,j"), -1, "no room for a fifth line");
  assert.equal(idIn(cache, "h2,j"), kept[2]);
  cache.clear();
  assert.equal(cache.size, 0);
  const id = idIn(cache, "h4,j");
  assert.equal(id, 0);
  assert.deepEqual(cache.row(id), { kind: "row", labels: ["h4", "j"] });
});

test("the arena bounds the bytes kept: a line that does not fit gets -1", () => {
  const cache = new RowCache(100, 16);
  assert.ok(idIn(cache, "0123456789,abc") >= 0);
  assert.equal(idIn(cache, "ab,c"), -1, "14 + 4 bytes exceed 16");
  assert.ok(idIn(cache, "a,") >= 0, "14 + 2 bytes fit exactly");
});

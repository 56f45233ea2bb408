import assert from "node:assert/strict";
import { test } from "node:test";
import { RowCache } from "./row-cache";
import { parseRow } from "./row-parser";

const line = (text: string) => Buffer.from(text, "utf8");

test("a repeated line is parsed once and gives the same result", () => {
  const cache = new RowCache();
  const first = cache.parse(line("web-1,backup"), false);
  assert.deepEqual(first, { kind: "row", host: "web-1", jobName: "backup" });
  assert.equal(cache.parse(line("web-1,backup"), false), first);
  assert.notEqual(cache.parse(line("web-1, backup"), false), first);
});

test("results equal the parser's for every kind of line", () => {
  const cache = new RowCache();
  const lines = ["a,b", '"a ""x""",b', "a", "", "  ", "a,\"b", "a,\u0001", "é,ü", "x".repeat(300) + ",y", "a,b\r"];
  for (let round = 0; round < 2; round++) {
    for (const text of lines) assert.deepEqual(cache.parse(line(text), false), parseRow(line(text), false), JSON.stringify(text));
  }
  // Invalid UTF-8 differs from valid text byte for byte, and so in the cache.
  const invalid = Buffer.from([0x61, 0x2c, 0xc3]);
  const valid = Buffer.from([0x61, 0x2c, 0xc3, 0xa9]);
  assert.deepEqual(cache.parse(invalid, false), { kind: "rejected", reason: "invalid_utf8" });
  assert.deepEqual(cache.parse(valid, false), { kind: "row", host: "a", jobName: "é" });
});

test("the first line is never served from the cache: it may be a header or carry a BOM", () => {
  const cache = new RowCache();
  cache.parse(line("host,job_name"), false);
  assert.deepEqual(cache.parse(line("host,job_name"), true), { kind: "skip", why: "header" });
  assert.deepEqual(cache.parse(line("host,job_name"), false), { kind: "row", host: "host", jobName: "job_name" });
  assert.deepEqual(cache.parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), line("a,b")]), true), {
    kind: "row",
    host: "a",
    jobName: "b",
  });
});

test("the cache starts over when full, so distinct lines cannot grow it without bound", () => {
  const cache = new RowCache(4);
  const kept = cache.parse(line("h0,j"), false);
  for (let i = 1; i < 4; i++) cache.parse(line(`h${i},j`), false);
  assert.equal(cache.parse(line("h0,j"), false), kept, "still cached below the bound");
  cache.parse(line("h4,j"), false);
  const reparsed = cache.parse(line("h0,j"), false);
  assert.notEqual(reparsed, kept, "cleared once full");
  assert.deepEqual(reparsed, kept);
});

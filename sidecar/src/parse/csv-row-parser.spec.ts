import { test } from "node:test";
import * as assert from "node:assert/strict";
import { rulesOf } from "../testing/counting-rules";
import { CsvRowParser } from "./csv-row-parser";
import type { ParsedRow } from "./parsed-row";

function parser(argv: string[], problems: string[] = []): CsvRowParser {
  return new CsvRowParser(rulesOf(...argv), (problem) => problems.push(problem));
}

const parse = (rowParser: CsvRowParser, text: string, isFirstLine = false): ParsedRow => rowParser.parse(Buffer.from(text, "utf8"), isFirstLine);
const row = (...labels: string[]): ParsedRow => ({ kind: "row", labels });

test("labels by column number read those columns, in the order of the labels, whatever lies beyond", () => {
  const rows = parser(["--metric", "m", "--label", "job=3", "--label", "host=1"]);
  assert.deepEqual(parse(rows, 'web-1,x,"backup, nightly",rest "unbalanced'), row("backup, nightly", "web-1"));
  assert.deepEqual(parse(rows, "web-1,x"), { kind: "rejected", reason: "too_few_fields" });
  assert.deepEqual(parse(rows, "web-1,x, "), { kind: "rejected", reason: "empty_field" });
  assert.deepEqual(parse(rows, 'web-1,"x,backup'), { kind: "rejected", reason: "unbalanced_quotes" });
  assert.deepEqual(parse(rows, "   "), { kind: "skip", why: "blank" });
  // Without header names, a first line holding the label names is the header.
  assert.deepEqual(parse(rows, "host,x,job", true), { kind: "skip", why: "header" });
  assert.deepEqual(parse(rows, "host,x,job", false), row("job", "host"));
});

test("another delimiter splits fields, and a comma is then data", () => {
  const rows = parser(["--metric", "m", "--delimiter", ";", "--label", "a=1", "--label", "b=2"]);
  assert.deepEqual(parse(rows, ' a,1 ; "b;2" '), row("a,1", "b;2"));
  const tabs = parser(["--metric", "m", "--delimiter", "tab", "--label", "a=2"]);
  assert.deepEqual(parse(tabs, "x y\t z w \t"), row("z w"));
});

test("labels by header name: the first line is the header, never counted, and names the columns", () => {
  const problems: string[] = [];
  const rows = parser(["--metric", "m", "--label", "status=status", "--label", "host=1", "--label", "path=path"], problems);
  assert.deepEqual(parse(rows, '\ufeffhost, "path" ,status\r', true), { kind: "skip", why: "header" });
  assert.deepEqual(parse(rows, "web-1,/a,200"), row("200", "web-1", "/a"));
  assert.deepEqual(parse(rows, "web-1,/a"), { kind: "rejected", reason: "too_few_fields" });
  assert.deepEqual(problems, []);
});

test("a header read on resume (learnHeader) serves like one read as the first line", () => {
  const rows = parser(["--metric", "m", "--label", "code=code", "--where", "level=error"]);
  assert.ok(rows.needsHeader);
  rows.learnHeader(Buffer.from("level,code\r"));
  assert.deepEqual(parse(rows, "error,E1"), row("E1"));
  assert.deepEqual(parse(rows, "info,E1"), { kind: "skip", why: "filtered" });
});

test("a header without a named column, or one that cannot be read, rejects rows as missing_field and says why once", () => {
  const problems: string[] = [];
  const rows = parser(["--metric", "m", "--label", "code=code"], problems);
  rows.learnHeader(Buffer.from("level,status"));
  assert.deepEqual(parse(rows, "error,E1"), { kind: "rejected", reason: "missing_field" });
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /no column "code"/);

  const tooLong: string[] = [];
  const unread = parser(["--metric", "m", "--label", "code=code"], tooLong);
  unread.learnHeader(undefined);
  assert.deepEqual(parse(unread, "error,E1"), { kind: "rejected", reason: "missing_field" });
  assert.deepEqual(parse(unread, "error,E2"), { kind: "rejected", reason: "missing_field" });
  assert.equal(tooLong.length, 1);
  assert.match(tooLong[0]!, /longer than --max-line-bytes/);
});

test("--where: every condition must hold; a missing column matches nothing; a regex matches the whole value", () => {
  const rows = parser(["--where", "3=~5..", "--where", "4=prod"]);
  assert.deepEqual(parse(rows, "web,job,503,prod"), row("web", "job"));
  assert.deepEqual(parse(rows, "web,job,5030,prod"), { kind: "skip", why: "filtered" });
  assert.deepEqual(parse(rows, "web,job,503,dev"), { kind: "skip", why: "filtered" });
  assert.deepEqual(parse(rows, "web,job,503"), { kind: "skip", why: "filtered" });
  // Filtered before the labels are checked: a row of no interest is not a rejection.
  assert.deepEqual(parse(rows, ",job,404,prod"), { kind: "skip", why: "filtered" });
  assert.deepEqual(parse(rows, ",job,500,prod"), { kind: "rejected", reason: "empty_field" });
});

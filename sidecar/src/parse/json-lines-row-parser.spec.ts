import { test } from "node:test";
import * as assert from "node:assert/strict";
import { rulesOf } from "../testing/counting-rules";
import { JsonLinesRowParser } from "./json-lines-row-parser";
import type { ParsedRow } from "./parsed-row";

const parser = (...argv: string[]): JsonLinesRowParser => new JsonLinesRowParser(rulesOf("--format", "jsonl", ...argv));
const parse = (rows: JsonLinesRowParser, line: string | Buffer, isFirstLine = false): ParsedRow =>
  rows.parse(typeof line === "string" ? Buffer.from(line, "utf8") : line, isFirstLine);
const row = (...labels: string[]): ParsedRow => ({ kind: "row", labels });
const rejected = (reason: string): ParsedRow => ({ kind: "rejected", reason }) as ParsedRow;

test("labels by top-level member and by dotted path", () => {
  const rows = parser("--metric", "m", "--label", "app=.kubernetes.labels.app", "--label", "level=.level");
  assert.deepEqual(parse(rows, '{"level":"warn","kubernetes":{"labels":{"app":"web"}},"msg":"x"}'), row("web", "warn"));
  assert.deepEqual(parse(rows, '\ufeff {"level":"warn","kubernetes":{"labels":{"app":"web"}}} \r', true), row("web", "warn"));
  assert.deepEqual(parse(rows, '{"level":"warn","kubernetes":{"labels":"web"}}'), rejected("missing_field"));
});

test("numbers and booleans are their JSON text; null, objects, arrays and absent members are missing_field", () => {
  const rows = parser("--metric", "m", "--label", "v=.v");
  assert.deepEqual(parse(rows, '{"v":200}'), row("200"));
  assert.deepEqual(parse(rows, '{"v":-1.5e3}'), row("-1500"));
  assert.deepEqual(parse(rows, '{"v":0.25}'), row("0.25"));
  assert.deepEqual(parse(rows, '{"v":true}'), row("true"));
  assert.deepEqual(parse(rows, '{"v":false}'), row("false"));
  assert.deepEqual(parse(rows, '{"v":"é\\u00e9"}'), row("éé"));
  for (const line of ['{"v":null}', '{"v":{}}', '{"v":[1]}', '{"w":1}', "{}"]) assert.deepEqual(parse(rows, line), rejected("missing_field"), line);
  // Inherited members are not members.
  assert.deepEqual(parser("--metric", "m", "--label", "v=.constructor").parse(Buffer.from("{}"), false), rejected("missing_field"));
});

test("a line that is not JSON, or not an object, is invalid_json; a blank line is skipped", () => {
  const rows = parser();
  for (const line of ['{"host":"a"', "host,job", "[1,2]", '"text"', "42", "null", '{"host":"a"} x']) {
    assert.deepEqual(parse(rows, line), rejected("invalid_json"), line);
  }
  assert.deepEqual(parse(rows, " \t"), { kind: "skip", why: "blank" });
  assert.deepEqual(parse(rows, '{"host":"h","job_name":"j"}'), row("h", "j"));
});

test("label values are checked like CSV fields; bytes that are not UTF-8 matter only inside a label", () => {
  const rows = parser();
  assert.deepEqual(parse(rows, '{"host":"","job_name":"j"}'), rejected("empty_field"));
  assert.deepEqual(parse(rows, '{"host":"a\\u0001","job_name":"j"}'), rejected("invalid_label"));
  assert.deepEqual(parse(rows, `{"host":"${"x".repeat(2000)}","job_name":"j"}`), rejected("field_too_long"));
  const bad = (value: number[]): Buffer => Buffer.concat([Buffer.from('{"host":"'), Buffer.from(value), Buffer.from('","job_name":"j"}')]);
  assert.deepEqual(parse(rows, bad([0x61, 0xff])), rejected("invalid_utf8"));
  const elsewhere = Buffer.concat([Buffer.from('{"msg":"'), Buffer.from([0xc3]), Buffer.from('","host":"h","job_name":"j"}')]);
  assert.deepEqual(parse(rows, elsewhere), row("h", "j"));
});

test("--where on JSON members: equality on the text, anchored regex, missing matches nothing", () => {
  const rows = parser("--where", ".level=~warn|error", "--where", ".http.status=500");
  assert.deepEqual(parse(rows, '{"host":"h","job_name":"j","level":"error","http":{"status":500}}'), row("h", "j"));
  assert.deepEqual(parse(rows, '{"host":"h","job_name":"j","level":"errors","http":{"status":500}}'), { kind: "skip", why: "filtered" });
  assert.deepEqual(parse(rows, '{"host":"h","job_name":"j","level":"warn"}'), { kind: "skip", why: "filtered" });
  assert.deepEqual(parse(rows, '{"level":"warn","http":{"status":500}}'), rejected("missing_field"));
});

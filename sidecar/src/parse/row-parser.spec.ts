import { test } from "node:test";
import * as assert from "node:assert/strict";
import { checkLabel, MAX_LABEL_BYTES, REJECT_REASONS, type RejectReason } from "@logtally/proto";
import type { ParsedRow } from "./parsed-row";
import { parseRow } from "./row-parser";
import { seededRandom } from "@logtally/testing";

/** Parses a line given as text (encoded as UTF-8) or as raw bytes. */
function parse(line: string | number[], isFirstLine = false): ParsedRow {
  return parseRow(typeof line === "string" ? Buffer.from(line, "utf8") : Buffer.from(line), isFirstLine);
}

function row(host: string, jobName: string): ParsedRow {
  return { kind: "row", labels: [host, jobName] };
}

function rejected(reason: RejectReason): ParsedRow {
  return { kind: "rejected", reason };
}

const bytes = (text: string): number[] => [...Buffer.from(text, "latin1")];

test("a plain row gives host and job_name", () => {
  assert.deepEqual(parse("server1,backup"), row("server1", "backup"));
  assert.deepEqual(parse("s\u00e9rveur-\u00df,\u6771\u4eac \u2603"), row("s\u00e9rveur-\u00df", "\u6771\u4eac \u2603"));
});

test("spaces and tabs around unquoted fields are trimmed, inner ones kept", () => {
  assert.deepEqual(parse("server1, backup"), row("server1", "backup"));
  assert.deepEqual(parse(" \tserver1 \t,\t backup job \t"), row("server1", "backup job"));
});

test("one trailing CR is stripped", () => {
  assert.deepEqual(parse("server1,backup\r"), row("server1", "backup"));
  assert.deepEqual(parse("server1,backup \r"), row("server1", "backup"));
  // Only one: a second CR is content, and a control character in a label.
  assert.deepEqual(parse("server1,backup\r\r"), rejected("invalid_label"));
});

test("a leading BOM is stripped on the first line only", () => {
  assert.deepEqual(parse("\ufeffserver1,backup", true), row("server1", "backup"));
  assert.deepEqual(parse("\ufeffserver1,backup\r", true), row("server1", "backup"));
  assert.deepEqual(parse("\ufeff", true), { kind: "skip", why: "blank" });
  // Elsewhere U+FEFF is data, also at the start of a later field.
  assert.deepEqual(parse("\ufeffserver1,backup"), row("\ufeffserver1", "backup"));
  assert.deepEqual(parse("\ufeffserver1,\ufeffbackup", true), row("server1", "\ufeffbackup"));
});

test("a header is skipped on the first line only", () => {
  const header = { kind: "skip", why: "header" };
  assert.deepEqual(parse("host,job_name", true), header);
  assert.deepEqual(parse("host,job_name\r", true), header);
  assert.deepEqual(parse("\ufeffhost,job_name\r", true), header);
  assert.deepEqual(parse(" host ,\tjob_name ", true), header);
  assert.deepEqual(parse('"host","job_name"', true), header);
  assert.deepEqual(parse("host,job_name,extra", true), header);
  assert.deepEqual(parse("host,job_name", false), row("host", "job_name"));
  assert.deepEqual(parse("Host,job_name", true), row("Host", "job_name"));
  assert.deepEqual(parse("host,job", true), row("host", "job"));
  assert.deepEqual(parse('" host","job_name"', true), row(" host", "job_name"));
});

test("empty and whitespace-only lines are blank", () => {
  for (const line of ["", " ", "\t", " \t \t", "\r", " \t\r"]) {
    assert.deepEqual(parse(line), { kind: "skip", why: "blank" }, JSON.stringify(line));
    assert.deepEqual(parse(line, true), { kind: "skip", why: "blank" }, JSON.stringify(line));
  }
  // Only spaces and tabs are blank: other white space is content.
  assert.deepEqual(parse("\u00a0"), rejected("too_few_fields"));
  assert.deepEqual(parse("\u000b"), rejected("too_few_fields"));
});

test("fewer than two fields is too_few_fields", () => {
  assert.deepEqual(parse("server1"), rejected("too_few_fields"));
  assert.deepEqual(parse("server1 \r"), rejected("too_few_fields"));
  assert.deepEqual(parse('"server1,backup"'), rejected("too_few_fields"));
  assert.deepEqual(parse('"server1"  '), rejected("too_few_fields"));
});

test("an empty host or job_name is empty_field", () => {
  assert.deepEqual(parse(",backup"), rejected("empty_field"));
  assert.deepEqual(parse("server1,"), rejected("empty_field"));
  assert.deepEqual(parse("server1, \t"), rejected("empty_field"));
  assert.deepEqual(parse(","), rejected("empty_field"));
  assert.deepEqual(parse('"",backup'), rejected("empty_field"));
  assert.deepEqual(parse('server1,""'), rejected("empty_field"));
});

test("quoted fields keep commas, doubled quotes and inner spaces", () => {
  assert.deepEqual(parse('"web, eu-1",backup'), row("web, eu-1", "backup"));
  assert.deepEqual(parse('server1,"say ""hi"""'), row("server1", 'say "hi"'));
  assert.deepEqual(parse('"""",""""""'), row('"', '""'));
  assert.deepEqual(parse('" padded ",job'), row(" padded ", "job"));
  assert.deepEqual(parse(' \t"a" \t, "b"\t\r'), row("a", "b"));
  assert.deepEqual(parse('"a","b,c",d'), row("a", "b,c"));
  assert.deepEqual(parse('"s\u00e9rveur","\u6771\u4eac"'), row("s\u00e9rveur", "\u6771\u4eac"));
});

test("a quote inside an unquoted field is an ordinary character", () => {
  assert.deepEqual(parse('ser"ver,backup'), row('ser"ver', "backup"));
  assert.deepEqual(parse('server1,back"up"'), row("server1", 'back"up"'));
  assert.deepEqual(parse('server1,backup"'), row("server1", 'backup"'));
});

test("quotes that do not balance are unbalanced_quotes", () => {
  for (const line of [
    '"server1,backup',
    'server1,"backup',
    '"server1',
    'server1,"back""up',
    '"a""',
    '"a"b,job',
    '"a" x,job',
    'server1,"backup"x',
    'server1, "backup" "x"',
    '"a"\r\r',
  ]) {
    assert.deepEqual(parse(line), rejected("unbalanced_quotes"), line);
  }
});

test("fields after the second are not inspected", () => {
  assert.deepEqual(parse("server1,backup,extra,more"), row("server1", "backup"));
  assert.deepEqual(parse("server1,backup,"), row("server1", "backup"));
  assert.deepEqual(parse('server1,backup,"unclosed'), row("server1", "backup"));
  assert.deepEqual(parse('server1,backup,x"y"z'), row("server1", "backup"));
  assert.deepEqual(parse([...bytes("server1,backup,"), 0xff, 0xc0, 0x80]), row("server1", "backup"));
  assert.deepEqual(parse("server1,backup,\u0000"), row("server1", "backup"));
  assert.deepEqual(parse(`server1,backup,${"x".repeat(10 * MAX_LABEL_BYTES)}`), row("server1", "backup"));
});

test("bytes that are not strict UTF-8 are invalid_utf8", () => {
  const cases: Array<[string, number[]]> = [
    ["0xff", [0xff]],
    ["0xfe", [0xfe]],
    ["lone continuation byte", [0x80]],
    ["truncated 3-byte sequence", [0xe6, 0x9d]],
    ["truncated 2-byte sequence at field end", [0xc3]],
    ["overlong NUL", [0xc0, 0x80]],
    ["overlong slash", [0xe0, 0x80, 0xaf]],
    ["UTF-16 surrogate", [0xed, 0xa0, 0x80]],
    ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
  ];
  for (const [name, bad] of cases) {
    assert.deepEqual(parse([...bytes("ab"), ...bad, ...bytes(",backup")]), rejected("invalid_utf8"), `host: ${name}`);
    assert.deepEqual(parse([...bytes("server1,ab"), ...bad]), rejected("invalid_utf8"), `job_name: ${name}`);
    assert.deepEqual(parse([...bytes('"'), ...bad, ...bytes('",backup')]), rejected("invalid_utf8"), `quoted: ${name}`);
  }
  // A BOM is only recognised whole, at the very start of the first line.
  assert.deepEqual(parse([0xef, 0xbb, ...bytes("server1,backup")], true), rejected("invalid_utf8"));
});

test("control characters in a label are invalid_label", () => {
  for (const line of [
    "ser\u0000ver,backup",
    "server1,back\u0007up",
    "server1,backup\u001b",
    "\u000bserver1,backup",
    "server1,back\u007fup",
    "server1,back\u0085up",
    "ser\rver,backup",
    '"ser\tver",backup',
  ]) {
    assert.deepEqual(parse(line), rejected("invalid_label"), JSON.stringify(line));
  }
});

test("a label over MAX_LABEL_BYTES is field_too_long", () => {
  const longest = "a".repeat(MAX_LABEL_BYTES);
  assert.deepEqual(parse(`${longest},backup`), row(longest, "backup"));
  assert.deepEqual(parse(`server1,"${longest}"`), row("server1", longest));
  assert.deepEqual(parse(`${longest}a,backup`), rejected("field_too_long"));
  assert.deepEqual(parse(`server1,${longest}a`), rejected("field_too_long"));
  assert.deepEqual(parse(`server1,"${longest}a"`), rejected("field_too_long"));
  // 513 two-byte characters are 1026 bytes.
  assert.deepEqual(parse(`${"\u00e9".repeat(513)},backup`), rejected("field_too_long"));
  // Trimmed blanks do not count.
  assert.deepEqual(parse(`   ${longest}   ,backup`), row(longest, "backup"));
});

test("the first problem found names the rejection", () => {
  // The line's shape before its encoding.
  assert.deepEqual(parse([0xff]), rejected("too_few_fields"));
  assert.deepEqual(parse([0x22, 0xff]), rejected("unbalanced_quotes"));
  // The encoding of either field before any label rule.
  assert.deepEqual(parse([0x01, 0x2c, 0xff]), rejected("invalid_utf8"));
  // Then the host before the job_name.
  assert.deepEqual(parse(",\u0001"), rejected("empty_field"));
  assert.deepEqual(parse(`a\u0001,${"b".repeat(2000)}`), rejected("invalid_label"));
  assert.deepEqual(parse(`${"a".repeat(2000)},`), rejected("field_too_long"));
});

test("a line that is a view into a larger buffer is parsed within its bounds", () => {
  const chunk = Buffer.from('x,"y\nserver1,backup\n"z');
  assert.deepEqual(parseRow(chunk.subarray(5, 19), false), row("server1", "backup"));
});

test("random bytes never make parseRow throw, and every row it returns is valid", () => {
  const random = seededRandom(20240607);
  // Bytes that matter to the parser, drawn more often than chance would.
  const interesting = [0x22, 0x2c, 0x20, 0x09, 0x0d, 0x0a, 0x00, 0xef, 0xbb, 0xbf, 0xc3, 0xa9, 0xc0, 0xff, 0x61];
  const reasons: ReadonlySet<string> = new Set(REJECT_REASONS);
  const kindsSeen = new Set<string>();
  for (let index = 0; index < 5000; index += 1) {
    const length = Math.floor(random() * 48);
    const line = Buffer.alloc(length);
    for (let at = 0; at < length; at += 1) {
      line[at] = random() < 0.6 ? (interesting[Math.floor(random() * interesting.length)] ?? 0) : Math.floor(random() * 256);
    }
    const isFirstLine = random() < 0.5;
    let result: ParsedRow;
    try {
      result = parseRow(line, isFirstLine);
    } catch (error) {
      assert.fail(`threw on ${line.toString("hex")}: ${String(error)}`);
    }
    kindsSeen.add(result.kind === "rejected" ? result.reason : result.kind);
    if (result.kind === "row") {
      assert.equal(checkLabel(result.labels[0]!), undefined, line.toString("hex"));
      assert.equal(checkLabel(result.labels[1]!), undefined, line.toString("hex"));
    } else if (result.kind === "rejected") {
      assert.ok(reasons.has(result.reason), result.reason);
    }
  }
  // The generator reaches every outcome, or the loop above proves little.
  for (const kind of ["row", "skip", "unbalanced_quotes", "too_few_fields", "invalid_utf8", "invalid_label"]) {
    assert.ok(kindsSeen.has(kind), `never produced ${kind}`);
  }
});

test("any valid pair survives being written as quoted CSV", () => {
  const random = seededRandom(7);
  const alphabet = ["a", "Z", "0", " ", ",", '"', "-", "\u00e9", "\u6771", "\ud83d\ude00"];
  const randomLabel = (): string => {
    let label = "";
    const length = 1 + Math.floor(random() * 12);
    for (let index = 0; index < length; index += 1) label += alphabet[Math.floor(random() * alphabet.length)] ?? "a";
    return label;
  };
  const quote = (value: string): string => `"${value.replaceAll('"', '""')}"`;
  let checked = 0;
  for (let index = 0; index < 2000; index += 1) {
    const host = randomLabel();
    const jobName = randomLabel();
    if (checkLabel(host) !== undefined || checkLabel(jobName) !== undefined) continue;
    checked += 1;
    assert.deepEqual(parse(`${quote(host)},${quote(jobName)}\r`), row(host, jobName));
    assert.deepEqual(parse(` ${quote(host)} ,\t${quote(jobName)},${quote(randomLabel())}`), row(host, jobName));
  }
  assert.ok(checked > 100, `only ${checked} valid pairs generated`);
});

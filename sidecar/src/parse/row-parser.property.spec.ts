import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { checkLabel, type RejectReason } from "@logtally/proto";
import type { ParsedRow } from "./parsed-row";
import { parseRow } from "./row-parser";
import { anyBytes, hostileBytes } from "../testing/hostile-bytes";
import { propertyRuns } from "../testing/property-runs";

/** What the parser itself may answer: line_too_long is the splitter's, other the aggregator's. */
const PARSER_REASONS: ReadonlySet<RejectReason> = new Set([
  "too_few_fields",
  "empty_field",
  "invalid_utf8",
  "unbalanced_quotes",
  "field_too_long",
  "invalid_label",
]);

const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const withoutNewlines = (bytes: Buffer): Buffer => Buffer.from(bytes.filter((byte) => byte !== 0x0a));

/** Starts of lines that are headers, or nearly, on the first line. */
const HEADERS = ["host,job_name", ' "host"\t, job_name ', "\ufeffhost,job_name", "\ufeff\ufeffhost,job_name", "host,job_name\r", "Host,job_name", "host,job"];

/** A line as the splitter hands it over: no "\n". Some begin like a header, which arbitrary bytes seldom do. */
const line = fc.oneof(
  { weight: 6, arbitrary: hostileBytes(24).map(withoutNewlines) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...HEADERS), fc.oneof(fc.constant(Buffer.alloc(0)), hostileBytes(3).map(withoutNewlines)))
      .map(([header, rest]) => Buffer.concat([Buffer.from(header, "utf8"), rest])),
  },
);

/** The outcome's name, for coverage. */
function outcomeOf(parsed: ParsedRow): string {
  if (parsed.kind === "rejected") return parsed.reason;
  return parsed.kind === "skip" ? parsed.why : "row";
}

test("parseRow never throws on arbitrary bytes and answers only well-formed outcomes", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(line, fc.boolean(), (bytes, isFirstLine) => {
      const copy = Buffer.from(bytes);
      const parsed = parseRow(bytes, isFirstLine);
      seen.add(outcomeOf(parsed));
      assert.deepEqual(bytes, copy, "the line is not modified");
      switch (parsed.kind) {
        case "row":
          assert.deepEqual(Object.keys(parsed).sort(), ["kind", "labels"]);
          assert.equal(parsed.labels.length, 2);
          assert.equal(checkLabel(parsed.labels[0]!), undefined, `host ${JSON.stringify(parsed.labels[0])}`);
          assert.equal(checkLabel(parsed.labels[1]!), undefined, `job_name ${JSON.stringify(parsed.labels[1])}`);
          break;
        case "skip":
          assert.ok(parsed.why === "blank" || (parsed.why === "header" && isFirstLine), `skipped as ${parsed.why}`);
          break;
        case "rejected":
          assert.ok(PARSER_REASONS.has(parsed.reason), `reason ${parsed.reason}`);
          break;
        default:
          assert.fail(`unknown outcome ${JSON.stringify(parsed)}`);
      }
    }),
    propertyRuns(2000),
  );
  // The inputs reach every outcome, or the property above proves little.
  assert.deepEqual([...seen].sort(), ["blank", "header", "row", ...PARSER_REASONS].sort());
});

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A second reading of the parser's contract, written for clarity rather than
 * speed: a character-by-character walk over the line's bytes (one latin1
 * character per byte), the two fields decoded only at the end.
 */
function referenceParse(bytes: Buffer, isFirstLine: boolean): ParsedRow {
  let text = bytes.toString("latin1");
  if (text.endsWith("\r")) text = text.slice(0, -1);
  if (isFirstLine && text.startsWith("\xef\xbb\xbf")) text = text.slice(3);
  if (/^[ \t]*$/.test(text)) return { kind: "skip", why: "blank" };
  const isBlank = (at: number): boolean => text[at] === " " || text[at] === "\t";
  let at = 0;
  /** Reads one field from `at`, leaving `at` on its terminating comma or at the end; undefined if its quotes do not balance. */
  const readField = (): string | undefined => {
    while (isBlank(at)) at += 1;
    if (text[at] !== '"') {
      const comma = text.indexOf(",", at);
      const terminator = comma === -1 ? text.length : comma;
      const value = text.slice(at, terminator).replace(/[ \t]+$/, "");
      at = terminator;
      return value;
    }
    let value = "";
    at += 1;
    for (;;) {
      if (at >= text.length) return undefined;
      if (text[at] === '"' && text[at + 1] === '"') {
        value += '"';
        at += 2;
      } else if (text[at] === '"') {
        at += 1;
        break;
      } else {
        value += text[at];
        at += 1;
      }
    }
    while (isBlank(at)) at += 1;
    return at === text.length || text[at] === "," ? value : undefined;
  };
  const hostBytes = readField();
  if (hostBytes === undefined) return { kind: "rejected", reason: "unbalanced_quotes" };
  if (at === text.length) return { kind: "rejected", reason: "too_few_fields" };
  at += 1;
  const jobNameBytes = readField();
  if (jobNameBytes === undefined) return { kind: "rejected", reason: "unbalanced_quotes" };
  let host: string;
  let jobName: string;
  try {
    host = STRICT_UTF8.decode(Buffer.from(hostBytes, "latin1"));
    jobName = STRICT_UTF8.decode(Buffer.from(jobNameBytes, "latin1"));
  } catch {
    return { kind: "rejected", reason: "invalid_utf8" };
  }
  if (isFirstLine && host === "host" && jobName === "job_name") return { kind: "skip", why: "header" };
  const problem = checkLabel(host) ?? checkLabel(jobName);
  return problem === undefined ? { kind: "row", labels: [host, jobName] } : { kind: "rejected", reason: problem };
}

test("parseRow agrees with a plain reading of its contract on arbitrary bytes", () => {
  fc.assert(
    fc.property(line, fc.boolean(), (bytes, isFirstLine) => {
      assert.deepEqual(parseRow(bytes, isFirstLine), referenceParse(bytes, isFirstLine));
    }),
    propertyRuns(2000),
  );
});

test("parseRow reads only its view: the bytes around a line in a larger buffer change nothing", () => {
  fc.assert(
    fc.property(line, anyBytes(16), anyBytes(16), fc.boolean(), (bytes, before, after, isFirstLine) => {
      const chunk = Buffer.concat([before, bytes, after]);
      const view = chunk.subarray(before.length, before.length + bytes.length);
      assert.deepEqual(parseRow(view, isFirstLine), parseRow(Buffer.from(bytes), isFirstLine));
    }),
    propertyRuns(1000),
  );
});

test("a CR before the newline changes nothing: CRLF and LF lines parse alike", () => {
  fc.assert(
    fc.property(line, fc.boolean(), (bytes, isFirstLine) => {
      fc.pre(bytes.at(-1) !== CR);
      assert.deepEqual(parseRow(Buffer.concat([bytes, Buffer.from([CR])]), isFirstLine), parseRow(bytes, isFirstLine));
    }),
    propertyRuns(1000),
  );
});

test("a byte-order mark before the first line changes nothing", () => {
  fc.assert(
    fc.property(line, (bytes) => {
      fc.pre(!bytes.subarray(0, 3).equals(BOM));
      assert.deepEqual(parseRow(Buffer.concat([BOM, bytes]), true), parseRow(bytes, true));
    }),
    propertyRuns(1000),
  );
});

test("whatever follows the second field, even invalid UTF-8 or an open quote, leaves a row as it is", () => {
  fc.assert(
    fc.property(line, line, fc.boolean(), (bytes, extra, isFirstLine) => {
      const parsed = parseRow(bytes, isFirstLine);
      fc.pre(parsed.kind === "row" && bytes.at(-1) !== CR);
      assert.deepEqual(parseRow(Buffer.concat([bytes, Buffer.from(","), extra]), isFirstLine), parsed);
    }),
    propertyRuns(1000),
  );
});

test("any row read from arbitrary bytes, written back as quoted CSV, reads the same", () => {
  const quote = (value: string): string => `"${value.replaceAll('"', '""')}"`;
  fc.assert(
    fc.property(line, (bytes) => {
      const parsed = parseRow(bytes, false);
      fc.pre(parsed.kind === "row");
      assert.deepEqual(parseRow(Buffer.from(` ${quote(parsed.labels[0]!)}\t,${quote(parsed.labels[1]!)}\r`, "utf8"), false), parsed);
    }),
    propertyRuns(1000),
  );
});

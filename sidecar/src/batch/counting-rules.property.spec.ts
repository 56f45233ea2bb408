import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parse as parseCsv } from "csv-parse/sync";
import fc from "fast-check";
import { checkLabel } from "@logtally/proto";
import { LineSplitter } from "../parse/line-splitter";
import { createRowParser } from "../parse/row-parser";
import type { CountingRules } from "../parse/counting-rules";
import { propertyRuns } from "../testing/property-runs";
import { rulesOf } from "../testing/counting-rules";
import { DeltaBatcher, emptyTally, type SealedBatch } from "./delta-batcher";

/** What a file amounts to: rows per label tuple, rejections per reason, lines filtered. */
interface Tally {
  readonly rows: Map<string, number>;
  readonly rejected: Map<string, number>;
  filtered: number;
}

const emptyOutcome = (): Tally => ({ rows: new Map(), rejected: new Map(), filtered: 0 });
const add = (map: Map<string, number>, key: string, count = 1): void => {
  map.set(key, (map.get(key) ?? 0) + count);
};

/** Streams `bytes` cut at `cuts` through a splitter and a batcher under `rules`, as the sidecar does. */
function streamed(rules: CountingRules, bytes: Buffer, cuts: readonly number[], maxBatchBytes: number): Tally {
  const tally = emptyTally();
  const batcher = new DeltaBatcher(maxBatchBytes, tally, createRowParser(rules));
  const splitter = new LineSplitter({ maxLineBytes: 1 << 20 }, 0);
  const batches: SealedBatch[] = [];
  let at = 0;
  for (const cut of [...new Set(cuts.map((fraction) => Math.floor(fraction * bytes.length)))].sort((a, b) => a - b).concat(bytes.length)) {
    if (cut <= at) continue;
    splitter.push(Buffer.from(bytes.subarray(at, cut)), batcher, at);
    at = cut;
    batches.push(...batcher.takeSealed());
  }
  batcher.seal();
  batches.push(...batcher.takeSealed());
  const outcome = emptyOutcome();
  let previousEnd = 0;
  for (const batch of batches) {
    assert.equal(batch.startOffset, previousEnd, "batches tile the file");
    previousEnd = batch.endOffset;
    let rows = 0;
    for (const { labels, count } of batch.deltas) {
      assert.equal(labels.length, rules.spec.labelNames.length);
      add(outcome.rows, JSON.stringify(labels), count);
      rows += count;
    }
    assert.equal(batch.rows, rows, "rows is the sum of the deltas");
    for (const { reason, count } of batch.rejected) add(outcome.rejected, reason, count);
  }
  assert.equal(previousEnd, bytes.lastIndexOf(0x0a) + 1, "every complete line is covered");
  outcome.filtered = tally.filtered;
  return outcome;
}

/** The reference's verdict on one line's label values (undefined: a missing one) once its --where held. */
function counted(outcome: Tally, labels: ReadonlyArray<string | undefined>, missing: "too_few_fields" | "missing_field"): void {
  if (labels.some((value) => value === undefined)) return add(outcome.rejected, missing);
  const problem = labels.map((value) => checkLabel(value!)).find((found) => found !== undefined);
  if (problem) add(outcome.rejected, problem);
  else add(outcome.rows, JSON.stringify(labels));
}

// Values: plain, with the delimiter, quotes, spaces inside, non-ASCII, or empty.
const csvValue = fc.constantFrom("web-1", "web-2", "db", "a;b", 'say "hi"', "x y", "é€", "", "200", "500", "error", "info");
const csvField = fc.tuple(csvValue, fc.boolean()).map(([value, quoted]) => {
  const mustQuote = value.includes(";") || value.includes('"') || value.startsWith(" ") || value.endsWith(" ");
  return quoted || mustQuote ? `"${value.replaceAll('"', '""')}"` : value;
});
const csvLine = fc.oneof(
  { weight: 12, arbitrary: fc.array(csvField, { minLength: 1, maxLength: 6 }).map((fields) => fields.join(";")) },
  { weight: 1, arbitrary: fc.constant("") },
);

test("CSV by header and column, any chunking: counts equal csv-parse's reading of the whole file", () => {
  const rules = rulesOf(
    "--metric",
    "m",
    "--delimiter",
    ";",
    "--label",
    "host=host",
    "--label",
    "status=3",
    "--label",
    "code=code",
    "--where",
    "level=~error|200",
  );
  fc.assert(
    fc.property(
      fc.array(csvLine, { maxLength: 60 }),
      fc.constantFrom("\n", "\r\n"),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
      fc.integer({ min: 1, max: 400 }),
      (lines, eol, cuts, maxBatchBytes) => {
        const text = ["host;level;status;code", ...lines].map((line) => line + eol).join("");
        const records: string[][] = parseCsv(text, { delimiter: ";", relax_column_count: true, skip_empty_lines: true, record_delimiter: eol });
        const [header, ...rows] = records;
        const column = (name: string): number => header!.indexOf(name);
        const expected = emptyOutcome();
        for (const record of rows) {
          const level = record[column("level")];
          if (level === undefined || !/^(?:error|200)$/.test(level)) {
            expected.filtered++;
            continue;
          }
          counted(expected, [record[column("host")], record[2], record[column("code")]], "too_few_fields");
        }
        assert.deepEqual(streamed(rules, Buffer.from(text, "utf8"), cuts, maxBatchBytes), expected);
      },
    ),
    propertyRuns(300),
  );
});

const jsonScalar = fc.oneof(
  fc.constantFrom("web-1", "web-2", "", "a\u0001", "é", "error", "warn"),
  fc.constantFrom(200, 500, -1.5, 1e21, 0.1),
  fc.boolean(),
  fc.constant(null),
);
const jsonValue = fc.oneof(
  { weight: 6, arbitrary: jsonScalar },
  { weight: 1, arbitrary: fc.constant({ nested: true }) },
  { weight: 1, arbitrary: fc.constant([1]) },
);
const member = (value: fc.Arbitrary<unknown>) => fc.option(value, { nil: undefined, freq: 5 });
const jsonLine = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .record({ host: member(jsonValue), level: member(jsonValue), k8s: member(fc.record({ app: member(jsonValue) })), msg: member(fc.string()) })
      .map((document) => JSON.stringify(document)),
  },
  { weight: 1, arbitrary: fc.constantFrom("", "not json", "[1]", '{"host":', "null") },
);

/** JSON's text of a member at `path`, as the reference reads it. */
function memberText(document: Record<string, unknown>, path: readonly string[]): string | undefined {
  let current: unknown = document;
  for (const key of path)
    current = current !== null && typeof current === "object" && !Array.isArray(current) ? (current as Record<string, unknown>)[key] : undefined;
  return typeof current === "string" || typeof current === "number" || typeof current === "boolean" ? String(current) : undefined;
}

test("JSON lines, any chunking: counts equal JSON.parse of the whole file split into lines", () => {
  const rules = rulesOf(
    "--format",
    "jsonl",
    "--metric",
    "m",
    "--label",
    "app=.k8s.app",
    "--label",
    "host=.host",
    "--label",
    "level=.level",
    "--where",
    ".level=~error|warn|true|200",
  );
  fc.assert(
    fc.property(
      fc.array(jsonLine, { maxLength: 60 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
      fc.integer({ min: 1, max: 400 }),
      (lines, cuts, maxBatchBytes) => {
        const text = lines.map((line) => `${line}\n`).join("");
        const expected = emptyOutcome();
        for (const line of text.split("\n").slice(0, -1)) {
          if (line.trim() === "") continue;
          let document: unknown;
          try {
            document = JSON.parse(line);
          } catch {
            add(expected.rejected, "invalid_json");
            continue;
          }
          if (document === null || typeof document !== "object" || Array.isArray(document)) {
            add(expected.rejected, "invalid_json");
            continue;
          }
          const fields = document as Record<string, unknown>;
          const level = memberText(fields, ["level"]);
          if (level === undefined || !/^(?:error|warn|true|200)$/.test(level)) {
            expected.filtered++;
            continue;
          }
          counted(expected, [memberText(fields, ["k8s", "app"]), memberText(fields, ["host"]), level], "missing_field");
        }
        assert.deepEqual(streamed(rules, Buffer.from(text, "utf8"), cuts, maxBatchBytes), expected);
      },
    ),
    propertyRuns(300),
  );
});

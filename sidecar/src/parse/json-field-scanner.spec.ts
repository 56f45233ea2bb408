import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { JsonFieldScanner } from "./json-field-scanner";

/** Paths the tests ask for: nested, sharing prefixes, odd keys. */
const PATHS: ReadonlyArray<readonly string[]> = [["a"], ["a", "b"], ["k"], ["x", "y", "z"], ["__proto__"], ["é"], ["a", "b", "c"]];

/** What the scanner must answer: JSON.parse and a walk of its result. */
function reference(text: string): Array<string | undefined> | undefined {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) return undefined;
  return PATHS.map((keys) => {
    let current: unknown = document;
    for (const key of keys) {
      if (typeof current !== "object" || current === null || Array.isArray(current) || !Object.hasOwn(current, key)) return undefined;
      current = (current as Record<string, unknown>)[key];
    }
    if (typeof current === "string") return current;
    if (typeof current === "number" || typeof current === "boolean") return String(current);
    return undefined;
  });
}

function scanned(scanner: JsonFieldScanner, line: Buffer): Array<string | undefined> | undefined {
  const values = new Array<string | undefined>(PATHS.length);
  return scanner.scan(line, 0, line.length, values) ? values : undefined;
}

/** JSON text with duplicate keys, escapes in keys, odd spacing and numbers: what JSON.stringify never writes. */
const space = fc.constantFrom("", " ", "\t", "\n", "\r", "  ");
const key = fc.constantFrom('"a"', '"b"', '"c"', '"k"', '"x"', '"y"', '"z"', '"q"', '"__proto__"', '"é"', '"\\u0061"', '"\\u00e9"', '"a\\"b"');
const scalar = fc.oneof(
  fc.constantFrom(
    "true",
    "false",
    "null",
    "0",
    "-0",
    "1.0",
    "1e2",
    "-1.5E-3",
    "123456789012345678901234",
    '""',
    '"v"',
    '"é€"',
    '"a\\nb"',
    '"\\ud800"',
    '"\\/"',
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => JSON.stringify(value)),
  fc.string({ maxLength: 6 }).map((value) => JSON.stringify(value)),
);
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc
      .array(fc.tuple(space, key, space, tie("value")), { maxLength: 5 })
      .map((members) => `{${members.map(([before, name, after, value]) => `${before}${name}${after}:${value}`).join(",")}}`),
    fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(", ")}]`),
  ),
})).value;
const objectText = fc
  .array(fc.tuple(space, key, jsonText), { maxLength: 6 })
  .map((members) => `{${members.map(([before, name, value]) => `${before}${name}:${value}`).join(",")}}`);

/** A line cut, grown or bent: most of these are not JSON any more, some still are. */
const mutated = fc
  .tuple(
    objectText,
    fc.nat(),
    fc.constantFrom("truncate", "insert", "replace", "none"),
    fc.constantFrom("}", "]", ",", ":", '"', "\\", "\u0001", "x", " ", "0", "{", "\u00ff"),
  )
  .map(([text, at, how, piece]) => {
    const cut = text.length === 0 ? 0 : at % text.length;
    if (how === "truncate") return text.slice(0, cut);
    if (how === "insert") return text.slice(0, cut) + piece + text.slice(cut);
    if (how === "replace") return text.slice(0, cut) + piece + text.slice(cut + 1);
    return text;
  });

test("answers what JSON.parse and a walk of its result answer, for objects JSON.stringify would not write", () => {
  const scanner = new JsonFieldScanner(PATHS);
  fc.assert(
    fc.property(objectText, space, space, (text, before, after) => {
      const line = `${before}${text}${after}`;
      assert.deepEqual(scanned(scanner, Buffer.from(line)), reference(line), line);
    }),
    { numRuns: 3_000 },
  );
});

test("refuses exactly the lines JSON.parse refuses, or that are no object, however a line is bent", () => {
  const scanner = new JsonFieldScanner(PATHS);
  fc.assert(
    fc.property(fc.oneof(mutated, jsonText), (line) => {
      assert.deepEqual(scanned(scanner, Buffer.from(line)), reference(line), line);
    }),
    { numRuns: 5_000 },
  );
});

test("keeps the last member of a key given twice, as JSON.parse does", () => {
  const scanner = new JsonFieldScanner(PATHS);
  const cases: Array<[string, Array<string | undefined>]> = [
    ['{"a":{"b":"x"},"a":5}', ["5", undefined, undefined, undefined, undefined, undefined, undefined]],
    ['{"a":5,"a":{"b":"x"}}', [undefined, "x", undefined, undefined, undefined, undefined, undefined]],
    ['{"a":{"b":{"c":"deep"}},"a":{"b":"flat"}}', [undefined, "flat", undefined, undefined, undefined, undefined, undefined]],
  ];
  for (const [line, expected] of cases) assert.deepEqual(scanned(scanner, Buffer.from(line)), expected, line);
});

test("reads members past nesting deeper than a recursive reader could follow", () => {
  const scanner = new JsonFieldScanner(PATHS);
  const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
  const line = `{"skip":${deep},"k":"after","x":{"y":{"z":1e1}}}`;
  assert.deepEqual(scanned(scanner, Buffer.from(line)), reference(line));
  assert.equal(scanned(scanner, Buffer.from(line))![2], "after");
});

test("decodes repeated values the same from the cache, and bytes that are not UTF-8 as JSON.parse's input would be", () => {
  const scanner = new JsonFieldScanner(PATHS);
  for (let round = 0; round < 3; round++) {
    for (const value of ["web-1", "web-2", "東京", "web-1"]) {
      assert.equal(scanned(scanner, Buffer.from(`{"k":${JSON.stringify(value)}}`))![2], value);
    }
  }
  const invalid = Buffer.concat([Buffer.from('{"k":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('b"}')]);
  assert.deepEqual(scanned(scanner, invalid), reference(invalid.toString("utf8")));
});

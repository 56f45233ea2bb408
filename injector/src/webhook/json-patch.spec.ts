import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { diffJson, formatJsonPointer, parseJsonPointer } from "./json-patch";
import type { JsonValue } from "../template/json-value";
import { applyJsonPatch } from "../testing/json-patch-applier";
import { seededRandom } from "@logtally/testing";

describe("diffJson", () => {
  it("nothing for equal values", () => {
    assert.deepEqual(diffJson({ a: [1, { b: null }] }, { a: [1, { b: null }] }), []);
  });

  it("creates a missing parent in one add, escaping / and ~ in keys", () => {
    assert.deepEqual(diffJson({ metadata: { name: "p" } }, { metadata: { name: "p", labels: { "logtally.io/sidecar": "true" } } }), [
      { op: "add", path: "/metadata/labels", value: { "logtally.io/sidecar": "true" } },
    ]);
    assert.deepEqual(diffJson({ labels: { app: "x" } }, { labels: { app: "x", "a~b/c": "1" } }), [{ op: "add", path: "/labels/a~0b~1c", value: "1" }]);
  });

  it("appends to a list that only grew at its end, leaving its items alone", () => {
    assert.deepEqual(diffJson({ list: [{ name: "a" }] }, { list: [{ name: "a" }, { name: "b" }, { name: "c" }] }), [
      { op: "add", path: "/list/-", value: { name: "b" } },
      { op: "add", path: "/list/-", value: { name: "c" } },
    ]);
  });

  it("compares lists of the same length item by item", () => {
    assert.deepEqual(diffJson([{ mounts: [] }, { mounts: [] }], [{ mounts: [] }, { mounts: [{ name: "m" }] }]), [
      { op: "add", path: "/1/mounts/-", value: { name: "m" } },
    ]);
  });

  it("replaces a list that changed otherwise, a changed scalar and a changed type", () => {
    assert.deepEqual(diffJson({ l: [1, 2, 3] }, { l: [3, 2] }), [{ op: "replace", path: "/l", value: [3, 2] }]);
    assert.deepEqual(diffJson({ l: [1, 2] }, { l: [0, 1, 2] }), [{ op: "replace", path: "/l", value: [0, 1, 2] }]);
    assert.deepEqual(diffJson({ grace: 30 }, { grace: 40 }), [{ op: "replace", path: "/grace", value: 40 }]);
    assert.deepEqual(diffJson({ v: { a: 1 } }, { v: [1] }), [{ op: "replace", path: "/v", value: [1] }]);
    assert.deepEqual(diffJson({ v: null }, { v: {} }), [{ op: "replace", path: "/v", value: {} }]);
  });

  it("removes members only the first value has", () => {
    assert.deepEqual(diffJson({ a: 1, b: 2 }, { a: 1 }), [{ op: "remove", path: "/b" }]);
  });

  it("lists new members in the order of the second value", () => {
    const paths = diffJson({}, { z: 1, a: 2, m: 3 }).map((operation) => operation.path);
    assert.deepEqual(paths, ["/z", "/a", "/m"]);
  });

  it("applied by an independent RFC 6902 applier, turns the first value into the second (random values)", () => {
    const random = seededRandom(20240607);
    for (let round = 0; round < 500; round++) {
      const before = randomValue(random, 3);
      const after = mutate(random, before, 3);
      const patch = diffJson(before, after);
      assert.deepEqual(applyJsonPatch(before, patch), after, `round ${round}: ${JSON.stringify({ before, after, patch })}`);
    }
  });
});

describe("JSON pointers", () => {
  it("round-trip keys with / and ~ and empty keys", () => {
    for (const segments of [[], [""], ["a/b", "~1", "~", "x"], ["metadata", "labels", "logtally.io/sidecar"]]) {
      assert.deepEqual(parseJsonPointer(formatJsonPointer(segments)), segments);
    }
    assert.equal(formatJsonPointer(["a~/b"]), "/a~0~1b");
  });

  it("refuse a pointer that does not start with /", () => {
    assert.throws(() => parseJsonPointer("metadata/labels"), /not a JSON pointer/);
  });
});

const KEYS = ["a", "b", "labels", "x/y", "t~", ""];

function randomValue(random: () => number, depth: number): JsonValue {
  const pick = Math.floor(random() * (depth > 0 ? 6 : 4));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return Math.floor(random() * 5);
    case 3:
      return ["", "s", "true"][Math.floor(random() * 3)]!;
    case 4:
      return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth - 1));
    default:
      return Object.fromEntries(KEYS.filter(() => random() < 0.4).map((key) => [key, randomValue(random, depth - 1)])) as JsonValue;
  }
}

/** `value` with a few random changes: new, changed and removed members, items appended, dropped or changed. */
function mutate(random: () => number, value: JsonValue, depth: number): JsonValue {
  if (random() < 0.15 || depth === 0) return random() < 0.5 ? value : randomValue(random, depth);
  if (Array.isArray(value)) {
    const items = value.map((item) => (random() < 0.3 ? mutate(random, item, depth - 1) : item));
    if (random() < 0.3) items.push(randomValue(random, depth - 1));
    if (random() < 0.15) items.shift();
    return items;
  }
  if (value !== null && typeof value === "object") {
    const result: Record<string, JsonValue> = {};
    for (const [key, member] of Object.entries(value)) {
      if (random() < 0.1) continue;
      result[key] = random() < 0.4 ? mutate(random, member, depth - 1) : member;
    }
    for (const key of KEYS) if (!(key in result) && random() < 0.1) result[key] = randomValue(random, depth - 1);
    return result;
  }
  return random() < 0.5 ? value : randomValue(random, depth);
}

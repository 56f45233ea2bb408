import { test } from "node:test";
import * as assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { parseCountFilter, type CountFilterFields } from "./count-filter";
import { StatusError } from "../errors";
import { decodePageToken, encodePageToken } from "./page-token";

const NO_FILTER: CountFilterFields = { host: "", jobName: "", hostPrefix: "", jobNamePrefix: "", metric: "", labels: {} };
/** Valid labels: no control characters, no U+FFFD. */
const label = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((value) => !/[\u0000-\u001f\u007f-\u009f\ufffd]/.test(value));

test("a token gives back the pair it was made from, and is URL-safe text", () => {
  fc.assert(
    fc.property(label, label, label, (host, jobName, prefix) => {
      const filter = parseCountFilter({ ...NO_FILTER, hostPrefix: prefix });
      const token = encodePageToken(filter, [host, jobName]);
      assert.match(token, /^[A-Za-z0-9_-]+$/);
      assert.deepEqual(decodePageToken(token, filter, 2), [host, jobName]);
    }),
  );
});

test("a token for one filter is refused under another", () => {
  const filters = [
    NO_FILTER,
    { ...NO_FILTER, host: "a" },
    { ...NO_FILTER, hostPrefix: "a" },
    { ...NO_FILTER, jobName: "a" },
    { ...NO_FILTER, jobNamePrefix: "a" },
    { ...NO_FILTER, host: "a", jobName: "a" },
  ].map(parseCountFilter);
  for (const issuedFor of filters) {
    const token = encodePageToken(issuedFor, ["a", "a"]);
    for (const usedWith of filters) {
      if (usedWith === issuedFor) continue;
      assertRefused(() => decodePageToken(token, usedWith, 2), /issued for another filter/);
    }
  }
});

test("anything else is refused as not a token this server issued", () => {
  const filter = parseCountFilter(NO_FILTER);
  const valid = encodePageToken(filter, ["a", "b"]);
  const base64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const digest = (JSON.parse(Buffer.from(valid, "base64url").toString()) as string[])[1];
  for (const token of [
    "garbage!",
    "not+base64/",
    "x".repeat(9000),
    Buffer.from("not json").toString("base64url"),
    base64({ host: "a" }),
    base64(["v2", digest, "a", "b"]),
    base64(["v1", digest, "a"]),
    base64(["v1", digest, "a", 7]),
    base64(["v1", digest, "", "b"]),
    base64(["v1", digest, "a\u0001", "b"]),
    valid.slice(0, -3),
  ]) {
    assertRefused(() => decodePageToken(token, filter, 2), /page_token is invalid/);
  }
  // Any single changed character is noticed or yields another valid cursor, never a crash.
  fc.assert(
    fc.property(fc.nat(valid.length - 1), fc.constantFrom(..."ABCxyz019-_"), (at, replacement) => {
      const tampered = valid.slice(0, at) + replacement + valid.slice(at + 1);
      try {
        decodePageToken(tampered, filter, 2);
      } catch (error) {
        assert.ok(error instanceof StatusError && error.code === status.INVALID_ARGUMENT, String(error));
      }
    }),
  );
});

function assertRefused(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof StatusError, String(error));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.match(error.message, message);
    return true;
  });
}

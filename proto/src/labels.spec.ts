import { test } from "node:test";
import * as assert from "node:assert/strict";
import { checkLabel, normalizeRejectReason } from "./labels";
import { MAX_LABEL_BYTES } from "./limits";

test("checkLabel accepts ordinary and non-ASCII values", () => {
  assert.equal(checkLabel("server1"), undefined);
  assert.equal(checkLabel("sérveur-ß ☃ 東京"), undefined);
  assert.equal(checkLabel("a".repeat(MAX_LABEL_BYTES)), undefined);
});

test("checkLabel names what is wrong", () => {
  assert.equal(checkLabel(""), "empty_field");
  assert.equal(checkLabel("a".repeat(MAX_LABEL_BYTES + 1)), "field_too_long");
  // 342 three-byte characters are 1026 bytes: over the limit though short in UTF-16.
  assert.equal(checkLabel("東".repeat(342)), "field_too_long");
  assert.equal(checkLabel("tab\there"), "invalid_label");
  assert.equal(checkLabel("nul\u0000"), "invalid_label");
  assert.equal(checkLabel("del\u007f"), "invalid_label");
  assert.equal(checkLabel("c1\u0085"), "invalid_label");
  assert.equal(checkLabel("bad\ufffd"), "invalid_label");
});

test("unknown reject reasons fold into other", () => {
  assert.equal(normalizeRejectReason("empty_field"), "empty_field");
  assert.equal(normalizeRejectReason("something_new"), "other");
});

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { bearerAuthorization, checkToken, parseBearerAuthorization, parseTokenFile } from "./bearer-token";

const TOKEN = "c2VjcmV0LXRva2VuLWZvci10ZXN0cw==";

test("a token file holds one token per line; blank lines and surrounding whitespace are ignored", () => {
  assert.deepEqual(parseTokenFile(Buffer.from(`${TOKEN}\n`)), [TOKEN]);
  assert.deepEqual(parseTokenFile(Buffer.from(`\n  ${TOKEN}  \r\n\nsecond-token-0123456789\n`)), [TOKEN, "second-token-0123456789"]);
});

test("a token file that holds no usable token is refused, naming the line but never its content", () => {
  assert.throws(() => parseTokenFile(Buffer.from("\n \n")), /holds no token/);
  const short = "tooshort";
  assert.throws(
    () => parseTokenFile(Buffer.from(`${TOKEN}\n${short}\n`)),
    (error: Error) => /line 2: a token must be at least 16 characters/.test(error.message) && !error.message.includes(short),
  );
  assert.throws(() => parseTokenFile(Buffer.from("has a space in the middle!")), /line 1: .*visible ASCII/);
  assert.throws(() => parseTokenFile(Buffer.from("caf\u00e9-caf\u00e9-caf\u00e9-caf\u00e9")), /visible ASCII/);
  assert.equal(checkToken("x".repeat(4097))?.includes("at most 4096"), true);
});

test("the authorization value is 'Bearer <token>', its scheme read in any case", () => {
  assert.equal(bearerAuthorization(TOKEN), `Bearer ${TOKEN}`);
  assert.equal(parseBearerAuthorization(`Bearer ${TOKEN}`), TOKEN);
  assert.equal(parseBearerAuthorization(`bearer ${TOKEN}`), TOKEN);
  assert.equal(parseBearerAuthorization(`Basic ${TOKEN}`), undefined);
  assert.equal(parseBearerAuthorization(TOKEN), undefined);
  assert.equal(parseBearerAuthorization("Bearer "), undefined);
  assert.equal(parseBearerAuthorization(`Bearer ${TOKEN} extra`), undefined);
});

import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { CredentialSource } from "@logtally/runtime";
import { TokenVerifier } from "./token-verifier";

const CURRENT = "current-token-0123456789abcdef";
const NEXT = "next-token-0123456789abcdef";

/** A token source whose value the test changes. */
function tokenSource(initial: string[]): CredentialSource<readonly string[]> & { set(tokens: string[]): void } {
  let tokens = initial;
  const listeners = new Set<(value: readonly string[]) => void>();
  return {
    current: () => tokens,
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(next) {
      tokens = next;
      for (const listener of listeners) listener(next);
    },
  };
}

test("accepts each listed token as 'Bearer <token>', and nothing else", () => {
  const verifier = new TokenVerifier(tokenSource([CURRENT, NEXT]));
  assert.deepEqual(verifier.verify([`Bearer ${CURRENT}`]), { ok: true });
  assert.deepEqual(verifier.verify([`bearer ${NEXT}`]), { ok: true });
  const refused = (values: unknown[]) => {
    const verdict = verifier.verify(values);
    return verdict.ok ? "ok" : verdict.reason;
  };
  assert.equal(refused([]), "missing_token");
  assert.equal(refused([CURRENT]), "malformed_token");
  assert.equal(refused([`Basic ${CURRENT}`]), "malformed_token");
  assert.equal(refused([`Bearer ${CURRENT}`, `Bearer ${CURRENT}`]), "malformed_token", "one authorization value, not several");
  assert.equal(refused([Buffer.from(`Bearer ${CURRENT}`)]), "malformed_token");
  assert.equal(refused([`Bearer ${"x".repeat(10_000)}`]), "malformed_token");
  assert.equal(refused([`Bearer ${CURRENT}x`]), "wrong_token");
  assert.equal(refused([`Bearer ${CURRENT.slice(0, -1)}`]), "wrong_token");
  assert.equal(refused([`Bearer ${CURRENT.toUpperCase()}`]), "wrong_token");
});

test("follows the token file: a removed token is refused from then on", () => {
  const source = tokenSource([CURRENT]);
  const verifier = new TokenVerifier(source);
  assert.equal(verifier.verify([`Bearer ${NEXT}`]).ok, false);
  source.set([CURRENT, NEXT]);
  assert.equal(verifier.verify([`Bearer ${NEXT}`]).ok, true);
  source.set([NEXT]);
  assert.equal(verifier.verify([`Bearer ${CURRENT}`]).ok, false);
  assert.equal(verifier.verify([`Bearer ${NEXT}`]).ok, true);
});

test("a refusal's message never echoes what was sent", () => {
  const verifier = new TokenVerifier(tokenSource([CURRENT]));
  for (const sent of [`Bearer ${CURRENT}-guess`, "Basic guess-guess-guess", "guess-guess-guess"]) {
    const verdict = verifier.verify([sent]);
    assert.ok(!verdict.ok && !verdict.message.includes("guess"), JSON.stringify(verdict));
  }
});

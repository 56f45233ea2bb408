import { createHash, timingSafeEqual } from "node:crypto";
import { MAX_TOKEN_LENGTH, parseBearerAuthorization } from "@logtally/proto";
import type { CredentialSource } from "@logtally/runtime";
import type { AuthFailureReason } from "../http/metrics";

/** Outcome of {@link TokenVerifier.verify}. */
export type TokenVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: AuthFailureReason;
      /** Safe to send to the client: says what to fix, never echoes what was sent. */
      readonly message: string;
    };

/**
 * Checks a presented bearer token against the accepted ones (the lines of
 * `--token-file`, followed as the file changes).
 *
 * The comparison takes the same time whatever the token: both sides are
 * SHA-256 digests of equal length compared with `timingSafeEqual`, and every
 * accepted digest is compared, so neither the length of an accepted token
 * nor how much of it a guess got right shows in the timing.
 */
export class TokenVerifier {
  private accepted: readonly Buffer[];

  constructor(tokens: CredentialSource<readonly string[]>) {
    this.accepted = tokens.current().map(digest);
    tokens.onChange((current) => (this.accepted = current.map(digest)));
  }

  /** Checks the values of the `authorization` metadata of a call. */
  verify(authorization: readonly unknown[]): TokenVerdict {
    if (authorization.length === 0) {
      return { ok: false, reason: "missing_token", message: "missing credentials: send the metadata 'authorization: Bearer <token>'" };
    }
    const value = authorization.length === 1 ? authorization[0] : undefined;
    const token = typeof value === "string" && value.length <= MAX_TOKEN_LENGTH + 16 ? parseBearerAuthorization(value) : undefined;
    if (token === undefined) {
      return { ok: false, reason: "malformed_token", message: "malformed credentials: expected one 'authorization: Bearer <token>'" };
    }
    const presented = digest(token);
    let matched = false;
    for (const accepted of this.accepted) matched = timingSafeEqual(presented, accepted) || matched;
    return matched ? { ok: true } : { ok: false, reason: "wrong_token", message: "invalid token" };
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

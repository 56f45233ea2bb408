/**
 * The shared bearer token: how it is stored in a file and carried in gRPC
 * metadata. The sidecar sends it; the aggregator checks it.
 */

/** gRPC metadata key that carries the token (HTTP's Authorization header; metadata keys are lowercase). */
export const AUTHORIZATION_METADATA_KEY = "authorization";

/** Shortest token accepted, in characters: anything shorter can be guessed. */
export const MIN_TOKEN_LENGTH = 16;

/** Longest token accepted, in characters. */
export const MAX_TOKEN_LENGTH = 4096;

// Visible ASCII: what a header value carries as it is, and what
// `openssl rand -base64 32` or `-hex 32` produce.
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

/**
 * Parses a token file: one token per line, surrounding whitespace and blank
 * lines ignored. A sidecar sends the first; an aggregator accepts each, so a
 * token can be rotated without a gap (add the new one, roll the sidecars, then
 * remove the old one). Throws an Error naming the line, never its content.
 */
export function parseTokenFile(contents: Buffer): string[] {
  const tokens: string[] = [];
  const lines = contents.toString("utf8").split("\n");
  lines.forEach((line, index) => {
    const token = line.trim();
    if (token === "") return;
    const problem = checkToken(token);
    if (problem) throw new Error(`line ${index + 1}: ${problem}`);
    tokens.push(token);
  });
  if (tokens.length === 0) throw new Error("holds no token");
  return tokens;
}

/** Why `token` cannot be a token, or undefined when it can. Never quotes the token. */
export function checkToken(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `a token must be at least ${MIN_TOKEN_LENGTH} characters (openssl rand -base64 32 makes one)`;
  if (token.length > MAX_TOKEN_LENGTH) return `a token must be at most ${MAX_TOKEN_LENGTH} characters`;
  if (!TOKEN_CHARACTERS.test(token)) return "a token may hold only visible ASCII characters (no spaces)";
  return undefined;
}

/** The metadata value that presents `token`. */
export function bearerAuthorization(token: string): string {
  return `Bearer ${token}`;
}

/** The token in an `authorization` value of the form `Bearer <token>` (scheme in any case), or undefined. */
export function parseBearerAuthorization(value: string): string | undefined {
  const match = /^bearer +(\S+)$/i.exec(value);
  return match?.[1];
}

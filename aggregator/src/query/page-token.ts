import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { checkLabel } from "@logtally/proto";
import { filterKey, type CountFilter } from "./count-filter";
import { StatusError } from "../errors";

/** Tokens longer than this were not issued here (two labels of at most 1024 bytes, encoded). */
const MAX_PAGE_TOKEN_CHARS = 8192;

const TOKEN_VERSION = "v1";

/** The last pair of a page: the next page starts after it. */
export interface PageCursor {
  readonly host: string;
  readonly jobName: string;
}

/**
 * The page token that continues a walk after `last` under `filter`. It holds
 * the key itself, not a position, so it stays valid while pairs are added
 * and across restarts; and a digest of the filter, so that it cannot be
 * used with another one. Opaque to clients.
 */
export function encodePageToken(filter: CountFilter, last: PageCursor): string {
  return Buffer.from(JSON.stringify([TOKEN_VERSION, filterDigest(filter), last.host, last.jobName]), "utf8").toString("base64url");
}

/**
 * Reads a page token issued for `filter`. Throws an INVALID_ARGUMENT
 * StatusError when it is not a token this server issues, or was issued for
 * another filter.
 */
export function decodePageToken(token: string, filter: CountFilter): PageCursor {
  const invalid = (why: string): StatusError => new StatusError(status.INVALID_ARGUMENT, `page_token is invalid: ${why}`);
  if (token.length > MAX_PAGE_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid("not a token this server issued");
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid("not a token this server issued");
  }
  if (
    !Array.isArray(fields) ||
    fields.length !== 4 ||
    fields[0] !== TOKEN_VERSION ||
    !fields.every((field) => typeof field === "string") ||
    checkLabel(fields[2] as string) !== undefined ||
    checkLabel(fields[3] as string) !== undefined
  ) {
    throw invalid("not a token this server issued");
  }
  const [, digest, host, jobName] = fields as [string, string, string, string];
  if (digest !== filterDigest(filter)) throw invalid("it was issued for another filter");
  return { host, jobName };
}

function filterDigest(filter: CountFilter): string {
  return createHash("sha256").update(filterKey(filter)).digest("base64url").slice(0, 16);
}

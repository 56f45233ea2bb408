import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { MAX_LABELS, checkLabel } from "@logtally/proto";
import { filterKey, type CountFilter } from "./count-filter";
import { StatusError } from "../errors";

/** Tokens longer than this were not issued here (MAX_LABELS labels of at most 1024 bytes, encoded). */
const MAX_PAGE_TOKEN_CHARS = 4 * 1024 * MAX_LABELS;

const TOKEN_VERSION = "v1";

/**
 * The page token that continues a walk after the series with label values
 * `last` under `filter`. It holds the key itself, not a position, so it
 * stays valid while series are added and across restarts; and a digest of
 * the filter, so that it cannot be used with another one. Opaque to
 * clients. A pair's token is the one issued before tokens named any metric.
 */
export function encodePageToken(filter: CountFilter, last: readonly string[]): string {
  return Buffer.from(JSON.stringify([TOKEN_VERSION, filterDigest(filter), ...last]), "utf8").toString("base64url");
}

/**
 * Reads a page token issued for `filter`, whose metric has `labelCount`
 * labels: the label values of the last series of the page before. Throws an
 * INVALID_ARGUMENT StatusError when it is not a token this server issues, or
 * was issued for another filter.
 */
export function decodePageToken(token: string, filter: CountFilter, labelCount: number): string[] {
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
    fields.length !== 2 + labelCount ||
    fields[0] !== TOKEN_VERSION ||
    !fields.every((field) => typeof field === "string") ||
    fields.slice(2).some((label) => checkLabel(label as string) !== undefined)
  ) {
    throw invalid("not a token this server issued");
  }
  const [, digest, ...labels] = fields as string[];
  if (digest !== filterDigest(filter)) throw invalid("it was issued for another filter");
  return labels;
}

function filterDigest(filter: CountFilter): string {
  return createHash("sha256").update(filterKey(filter)).digest("base64url").slice(0, 16);
}

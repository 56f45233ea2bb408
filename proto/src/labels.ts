import { MAX_ID_LENGTH, MAX_LABEL_BYTES } from "./limits";

/**
 * Why a row was not counted. The sidecar reports rejected rows by these
 * reasons, except `series_limit`, which the aggregator decides (a row of a new
 * series once `--max-series` series of its metric exist). `missing_field`: a
 * label's field is not in the line; `invalid_json`: a JSON-lines line that is
 * not one JSON object. The aggregator folds any reason it
 * does not know into `other`, so a newer sidecar cannot grow the metric's
 * label set without bound.
 */
export const REJECT_REASONS = [
  "too_few_fields",
  "empty_field",
  "invalid_utf8",
  "unbalanced_quotes",
  "field_too_long",
  "line_too_long",
  "invalid_label",
  "missing_field",
  "invalid_json",
  "series_limit",
  "other",
] as const;

/** One of {@link REJECT_REASONS}. */
export type RejectReason = (typeof REJECT_REASONS)[number];

const KNOWN_REASONS: ReadonlySet<string> = new Set(REJECT_REASONS);

/** Maps a reported reason onto the known set. */
export function normalizeRejectReason(reason: string): RejectReason {
  return KNOWN_REASONS.has(reason) ? (reason as RejectReason) : "other";
}

// C0 controls, DEL, C1 controls, and U+FFFD: the decoder's stand-in for
// invalid UTF-8, which is how bad bytes look once a protobuf string is decoded.
const FORBIDDEN_IN_LABEL = /[\u0000-\u001f\u007f-\u009f\ufffd]/;

/** Outcome of {@link checkLabel}: `undefined` when the value is a valid label. */
export type LabelProblem = "empty_field" | "field_too_long" | "invalid_label";

/**
 * Checks a label value (host, job_name, any label of a spec): non-empty, at most {@link MAX_LABEL_BYTES}
 * UTF-8 bytes, no control characters and no U+FFFD.
 */
export function checkLabel(value: string): LabelProblem | undefined {
  if (value.length === 0) return "empty_field";
  // A JS string takes at most 3 UTF-8 bytes per UTF-16 unit: skip the exact
  // count for the common short value.
  if (value.length * 3 > MAX_LABEL_BYTES && Buffer.byteLength(value, "utf8") > MAX_LABEL_BYTES) {
    return "field_too_long";
  }
  if (FORBIDDEN_IN_LABEL.test(value)) return "invalid_label";
  return undefined;
}

/**
 * Checks an identifier (source, file, sidecar, generation): at most
 * {@link MAX_ID_LENGTH} characters, no control characters, no U+FFFD.
 * Returns a message naming `name` when it is not valid.
 */
export function checkIdentifier(name: string, value: string, { required }: { required: boolean }): string | undefined {
  if (value.length === 0) return required ? `${name} is required` : undefined;
  if (value.length > MAX_ID_LENGTH) return `${name} is longer than ${MAX_ID_LENGTH} characters`;
  if (FORBIDDEN_IN_LABEL.test(value)) return `${name} contains control characters or invalid UTF-8`;
  return undefined;
}

import { checkLabel, type RejectReason } from "@logtally/proto";

/** What one line of `log.csv` amounts to. */
export type ParsedRow = { kind: "row"; host: string; jobName: string } | { kind: "skip"; why: "blank" | "header" } | { kind: "rejected"; reason: RejectReason };

const TAB = 0x09;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;

// ignoreBOM keeps a U+FEFF at the start of a field as data: only the file's
// own BOM (stripped by byte before decoding) is not content.
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Where one field lies in the line. */
interface FieldSpan {
  /** First byte of the value (inside the quotes when quoted). */
  start: number;
  /** Just after the value's last byte. */
  end: number;
  /** The value holds `""` pairs, each standing for one `"`. */
  hasEscapedQuotes: boolean;
  /** Index of the comma that ends the field, or the line's end for the last field. */
  terminator: number;
}

/**
 * Parses one line of `log.csv`, `host,job_name`, given without its "\n".
 *
 * - One trailing "\r" is stripped; on the first line (`isFirstLine`, the line
 *   at file offset 0) so is a leading UTF-8 BOM.
 * - A line that is empty or only spaces and tabs is skipped as `blank`.
 * - Fields are split on commas with RFC 4180 quoting within the line. Unquoted
 *   fields are trimmed of spaces and tabs; a quoted field keeps its content
 *   verbatim (`""` is one `"`), and only spaces and tabs may surround its
 *   quotes. A `"` inside an unquoted field is an ordinary character.
 * - Only the first two fields are read. Anything after the comma that ends the
 *   second field is not inspected at all: it can hold unbalanced quotes or
 *   invalid UTF-8 without affecting the row.
 * - On the first line, the fields `host` and `job_name` (quoted or not) are
 *   skipped as `header`.
 *
 * A line is rejected with the first of these that applies: the line's shape
 * (`unbalanced_quotes`, `too_few_fields`), then the encoding of the two fields
 * (`invalid_utf8`, strict: overlong forms, surrogates and truncated sequences
 * are invalid), then the host and then the job_name value per `checkLabel`
 * (`empty_field`, `field_too_long`, `invalid_label`).
 *
 * Never throws. `host` and `jobName` do not share memory with `line`.
 */
export function parseRow(line: Buffer, isFirstLine: boolean): ParsedRow {
  let start = 0;
  let end = line.length;
  if (end > 0 && line[end - 1] === CR) end -= 1;
  if (isFirstLine && end >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) start = 3;

  if (skipBlanks(line, start, end) === end) return { kind: "skip", why: "blank" };

  const hostSpan = scanField(line, start, end);
  if (hostSpan === undefined) return rejected("unbalanced_quotes");
  if (hostSpan.terminator === end) return rejected("too_few_fields");
  const jobNameSpan = scanField(line, hostSpan.terminator + 1, end);
  if (jobNameSpan === undefined) return rejected("unbalanced_quotes");

  const host = decodeField(line, hostSpan);
  const jobName = decodeField(line, jobNameSpan);
  if (host === undefined || jobName === undefined) return rejected("invalid_utf8");

  if (isFirstLine && host === "host" && jobName === "job_name") return { kind: "skip", why: "header" };

  const problem = checkLabel(host) ?? checkLabel(jobName);
  if (problem !== undefined) return rejected(problem);
  return { kind: "row", host, jobName };
}

function rejected(reason: RejectReason): ParsedRow {
  return { kind: "rejected", reason };
}

/**
 * Finds the field starting at `from`, or returns `undefined` if it is a quoted
 * field that is not well formed.
 *
 * Works on bytes: `"`, `,`, space and tab are ASCII, and in UTF-8 an ASCII
 * byte never occurs inside a multi-byte character, so splitting before
 * decoding cannot cut a valid character in two.
 */
function scanField(line: Buffer, from: number, end: number): FieldSpan | undefined {
  const first = skipBlanks(line, from, end);
  if (first === end || line[first] !== QUOTE) {
    // Buffer.indexOf has no upper bound, but the only byte past `end` is a
    // stripped "\r", which is not a comma.
    const comma = line.indexOf(COMMA, first);
    const terminator = comma === -1 ? end : comma;
    return { start: first, end: trimBlanksEnd(line, first, terminator), hasEscapedQuotes: false, terminator };
  }

  let hasEscapedQuotes = false;
  let searchFrom = first + 1;
  let closing: number;
  for (;;) {
    const quote = line.indexOf(QUOTE, searchFrom);
    if (quote === -1 || quote >= end) return undefined;
    if (quote + 1 < end && line[quote + 1] === QUOTE) {
      hasEscapedQuotes = true;
      searchFrom = quote + 2;
      continue;
    }
    closing = quote;
    break;
  }
  const after = skipBlanks(line, closing + 1, end);
  if (after !== end && line[after] !== COMMA) return undefined;
  return { start: first + 1, end: closing, hasEscapedQuotes, terminator: after };
}

/** The field's value as a string, or `undefined` if its bytes are not valid UTF-8. */
function decodeField(line: Buffer, span: FieldSpan): string | undefined {
  let value: string;
  if (isAscii(line, span.start, span.end)) {
    // latin1 is a plain byte-to-code-unit copy, far cheaper than the
    // validating decoder, and exact for ASCII.
    value = line.toString("latin1", span.start, span.end);
  } else {
    try {
      value = STRICT_UTF8.decode(line.subarray(span.start, span.end));
    } catch (error) {
      if (error instanceof TypeError) return undefined;
      throw error;
    }
  }
  return span.hasEscapedQuotes ? value.replaceAll('""', '"') : value;
}

/** Index of the first byte in `[from, end)` that is not a space or tab, or `end`. */
function skipBlanks(line: Buffer, from: number, end: number): number {
  let index = from;
  while (index < end) {
    const byte = line[index];
    if (byte !== SPACE && byte !== TAB) break;
    index += 1;
  }
  return index;
}

/** Index just after the last byte in `[from, end)` that is not a space or tab, or `from`. */
function trimBlanksEnd(line: Buffer, from: number, end: number): number {
  let index = end;
  while (index > from) {
    const byte = line[index - 1];
    if (byte !== SPACE && byte !== TAB) break;
    index -= 1;
  }
  return index;
}

// A loop beats node:buffer's isAscii here: fields are short, and isAscii
// would need a subarray allocated per field.
function isAscii(line: Buffer, from: number, end: number): boolean {
  for (let index = from; index < end; index += 1) {
    const byte = line[index];
    if (byte === undefined || byte > 0x7f) return false;
  }
  return true;
}

/**
 * The byte-level reading of one CSV line: fields split on a delimiter with
 * RFC 4180 quoting within the line, found without decoding.
 *
 * Works on bytes: the delimiter, `"`, space and tab are ASCII, and in UTF-8 an
 * ASCII byte never occurs inside a multi-byte character, so splitting before
 * decoding cannot cut a valid character in two.
 */

export const TAB = 0x09;
export const CR = 0x0d;
export const SPACE = 0x20;
export const QUOTE = 0x22;

// ignoreBOM keeps a U+FEFF at the start of a field as data: only the file's
// own BOM (stripped by byte before decoding) is not content.
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Where the fields of one line lie, filled by {@link scanFields}: field `i`
 * is `[start[i], end[i])`, inside the quotes when quoted, and `escaped[i]` is
 * 1 when it holds `""` pairs, each standing for one `"`. Allocated once per
 * parser and reused for every line.
 */
export class FieldSpans {
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly escaped: Uint8Array;
  /** Fields found by the latest scan. */
  count = 0;

  constructor(readonly capacity: number) {
    this.start = new Int32Array(capacity);
    this.end = new Int32Array(capacity);
    this.escaped = new Uint8Array(capacity);
  }
}

/**
 * How a line is split: the delimiter, and the blanks trimmed around
 * unquoted fields and allowed around quoted ones. Blanks are spaces and tabs,
 * except the delimiter itself (a tab with `--delimiter tab`).
 */
export class CsvDialect {
  readonly blankA: number;
  readonly blankB: number;

  constructor(readonly delimiter: number) {
    this.blankA = delimiter === SPACE ? TAB : SPACE;
    this.blankB = delimiter === TAB ? SPACE : TAB;
  }

  /** Index of the first byte in `[from, end)` that is not a blank, or `end`. */
  skipBlanks(line: Buffer, from: number, end: number): number {
    let index = from;
    while (index < end) {
      const byte = line[index];
      if (byte !== this.blankA && byte !== this.blankB) break;
      index += 1;
    }
    return index;
  }

  /** Index just after the last byte in `[from, end)` that is not a blank, or `from`. */
  trimBlanksEnd(line: Buffer, from: number, end: number): number {
    let index = end;
    while (index > from) {
      const byte = line[index - 1];
      if (byte !== this.blankA && byte !== this.blankB) break;
      index -= 1;
    }
    return index;
  }

  /**
   * Finds the fields of `line[from, end)`, at most `spans.capacity` of them,
   * into `spans` (`spans.count` is how many the line has, up to that). False
   * when a field read is quoted and not well formed: its closing quote is
   * missing, or followed by something else than blanks and the delimiter.
   * Nothing after the last field read is inspected.
   */
  scanFields(line: Buffer, from: number, end: number, spans: FieldSpans): boolean {
    let at = from;
    spans.count = 0;
    while (spans.count < spans.capacity) {
      const terminator = this.scanField(line, at, end, spans, spans.count);
      if (terminator < 0) return false;
      spans.count += 1;
      if (terminator >= end) break;
      at = terminator + 1;
    }
    return true;
  }

  /**
   * Reads the field starting at `from` into `spans[slot]`; returns the index
   * of the delimiter that ends it, or `end` for the last field, or -1 when it
   * is a quoted field that is not well formed.
   */
  private scanField(line: Buffer, from: number, end: number, spans: FieldSpans, slot: number): number {
    const first = this.skipBlanks(line, from, end);
    if (first === end || line[first] !== QUOTE) {
      // Buffer.indexOf has no upper bound, but the only byte past `end` is a
      // stripped "\r", which is never the delimiter.
      const found = line.indexOf(this.delimiter, first);
      const terminator = found === -1 ? end : found;
      spans.start[slot] = first;
      spans.end[slot] = this.trimBlanksEnd(line, first, terminator);
      spans.escaped[slot] = 0;
      return terminator;
    }
    let escaped = 0;
    let searchFrom = first + 1;
    let closing: number;
    for (;;) {
      const quote = line.indexOf(QUOTE, searchFrom);
      if (quote === -1 || quote >= end) return -1;
      if (quote + 1 < end && line[quote + 1] === QUOTE) {
        escaped = 1;
        searchFrom = quote + 2;
        continue;
      }
      closing = quote;
      break;
    }
    const after = this.skipBlanks(line, closing + 1, end);
    if (after !== end && line[after] !== this.delimiter) return -1;
    spans.start[slot] = first + 1;
    spans.end[slot] = closing;
    spans.escaped[slot] = escaped;
    return after;
  }
}

/** Where a line's content ends: before one trailing "\r" (the "\n" is not part of the line). */
export function contentEnd(line: Buffer): number {
  const end = line.length;
  return end > 0 && line[end - 1] === CR ? end - 1 : end;
}

/** Length of a UTF-8 byte-order mark at the start of `line[0, end)`: 3, or 0 when there is none. */
export function bomLength(line: Buffer, end: number): number {
  return end >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf ? 3 : 0;
}

/** True when `line[from, end)` is empty or only spaces and tabs (whatever the delimiter). */
export function isBlankLine(line: Buffer, from: number, end: number): boolean {
  for (let index = from; index < end; index += 1) {
    const byte = line[index];
    if (byte !== SPACE && byte !== TAB) return false;
  }
  return true;
}

/** Field `slot` of the latest scan as a string, or `undefined` if its bytes are not strict UTF-8. */
export function decodeField(line: Buffer, spans: FieldSpans, slot: number): string | undefined {
  const start = spans.start[slot]!;
  const end = spans.end[slot]!;
  let value: string;
  if (isAscii(line, start, end)) {
    // latin1 is a plain byte-to-code-unit copy, far cheaper than the
    // validating decoder, and exact for ASCII.
    value = line.toString("latin1", start, end);
  } else {
    try {
      value = STRICT_UTF8.decode(line.subarray(start, end));
    } catch (error) {
      if (error instanceof TypeError) return undefined;
      throw error;
    }
  }
  return spans.escaped[slot] === 1 ? value.replaceAll('""', '"') : value;
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

/**
 * Reads the members a JSON-lines spec asks for from one line, checking the
 * whole line as JSON.parse would, without building the document: no string
 * is decoded but keys on the way to a wanted member and the wanted values
 * themselves. JSON.parse and a walk of its result cost some twice as much
 * per line, most of it in objects and strings nobody reads.
 *
 * What it answers equals JSON.parse's: the same lines are JSON, the same
 * member wins when a key repeats (the last), strings are unescaped and
 * numbers read as JSON.parse reads them. Containers are skipped without
 * recursion, so nesting as deep as a line can hold is read as JSON.parse
 * reads it.
 */

/** A key on the way to wanted members: the members under it, and the values it is itself. */
interface PathNode {
  readonly children: Map<string, PathNode>;
  /** The same children by their keys' UTF-8 bytes: a key in the line is compared where it is, not decoded. */
  readonly childKeys: Array<{ readonly bytes: Buffer; readonly node: PathNode }>;
  /** Indexes (into the values) of the paths that end here. */
  readonly targets: number[];
  /** Indexes of every path that ends here or below: reset when the key comes again. */
  readonly below: number[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Bytes that may follow a backslash in a JSON string (besides `u`): `"` `\` `/` b f n r t. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/** Longer values are decoded each time; shorter ones are looked up first. */
const MAX_CACHED_STRING_BYTES = 64;
/** Bound on the decoded values kept: the cache starts over when it is full. */
const MAX_CACHED_STRINGS = 4_096;

/** What scanString() found: the end (after the closing quote) and whether it holds escapes; end -1 when it is not a string. */
const NOT_A_STRING = -1;

export class JsonFieldScanner {
  private readonly root: PathNode = newNode();
  /** Open containers while skipping: 1 an object, 0 an array. */
  private stack = new Uint8Array(64);
  private line: Buffer = Buffer.alloc(0);
  private end = 0;
  private pos = 0;
  private stringHasEscape = false;
  private values: Array<string | undefined> = [];
  /** Decoded label values by a hash of their bytes (see decoded()). */
  private readonly strings = new Map<number, { readonly bytes: Buffer; readonly text: string }>();

  /** `paths[i]` is the keys of value i (`.kubernetes.labels.app` is ["kubernetes", "labels", "app"]). */
  constructor(paths: ReadonlyArray<readonly string[]>) {
    for (const [index, keys] of paths.entries()) {
      let node = this.root;
      node.below.push(index);
      for (const key of keys) {
        let child = node.children.get(key);
        if (!child) {
          child = newNode();
          node.children.set(key, child);
          node.childKeys.push({ bytes: Buffer.from(key), node: child });
        }
        node = child;
        node.below.push(index);
      }
      node.targets.push(index);
    }
  }

  /**
   * Reads line[start, end) into `values` (one per path: its member's text, or
   * undefined when the member is missing, null, an object or an array).
   * Returns false, values unspecified, when the bytes are not a JSON object.
   */
  scan(line: Buffer, start: number, end: number, values: Array<string | undefined>): boolean {
    this.line = line;
    this.end = end;
    this.pos = start;
    this.values = values;
    values.fill(undefined);
    this.skipWhitespace();
    if (this.pos >= end || line[this.pos] !== OPEN_OBJECT) return false;
    if (!this.readObjectOnPath(this.root)) return false;
    this.skipWhitespace();
    return this.pos === end;
  }

  /** At `{` of an object holding wanted members: reads it, recursing along the paths (their depth is bounded). */
  private readObjectOnPath(node: PathNode): boolean {
    const line = this.line;
    this.pos++;
    this.skipWhitespace();
    if (line[this.pos] === CLOSE_OBJECT && this.pos < this.end) {
      this.pos++;
      return true;
    }
    for (;;) {
      if (this.pos >= this.end || line[this.pos] !== QUOTE) return false;
      const keyStart = this.pos + 1;
      const keyEnd = this.scanString();
      if (keyEnd === NOT_A_STRING) return false;
      const child = this.stringHasEscape
        ? node.children.get(JSON.parse(line.toString("utf8", keyStart - 1, keyEnd)) as string)
        : childByBytes(node, line, keyStart, keyEnd - 1);
      this.skipWhitespace();
      if (this.pos >= this.end || line[this.pos] !== COLON) return false;
      this.pos++;
      this.skipWhitespace();
      if (child) {
        // A key given twice: JSON.parse keeps the last member.
        for (const index of child.below) this.values[index] = undefined;
        if (!this.readValueOnPath(child)) return false;
      } else if (!this.skipValue()) return false;
      this.skipWhitespace();
      if (this.pos >= this.end) return false;
      const next = line[this.pos];
      this.pos++;
      if (next === CLOSE_OBJECT) return true;
      if (next !== COMMA) return false;
      this.skipWhitespace();
    }
  }

  /** A member on a path: its text for the paths ending here, its members for those going on. */
  private readValueOnPath(node: PathNode): boolean {
    if (this.pos >= this.end) return false;
    const first = this.line[this.pos]!;
    if (first === OPEN_OBJECT && node.children.size > 0) return this.readObjectOnPath(node);
    const start = this.pos;
    if (!this.skipValue()) return false;
    if (node.targets.length === 0) return true;
    const text = this.scalarText(first, start, this.pos);
    for (const index of node.targets) this.values[index] = text;
    return true;
  }

  /** The text of the scalar (already checked) at [start, end) whose first byte is `first`; undefined for null, objects, arrays. */
  private scalarText(first: number, start: number, end: number): string | undefined {
    const line = this.line;
    if (first === QUOTE) return this.stringHasEscape ? (JSON.parse(line.toString("utf8", start, end)) as string) : this.decoded(start + 1, end - 1);
    if (first === 0x74) return "true";
    if (first === 0x66) return "false";
    if (first === 0x2d || (first >= 0x30 && first <= 0x39)) return String(Number(line.toString("latin1", start, end)));
    return undefined;
  }

  /**
   * The escape-free string line[start, end). Label values repeat from line
   * to line: a short one is looked up by its bytes before it is decoded.
   */
  private decoded(start: number, end: number): string {
    const line = this.line;
    const length = end - start;
    if (length > MAX_CACHED_STRING_BYTES) return line.toString("utf8", start, end);
    let hash = 0x811c9dc5;
    for (let at = start; at < end; at++) hash = Math.imul(hash ^ line[at]!, 0x01000193);
    hash = (hash ^ length) >>> 0;
    const cached = this.strings.get(hash);
    if (cached !== undefined && cached.bytes.length === length) {
      let index = 0;
      while (index < length && cached.bytes[index] === line[start + index]) index++;
      if (index === length) return cached.text;
    }
    const text = line.toString("utf8", start, end);
    if (this.strings.size >= MAX_CACHED_STRINGS) this.strings.clear();
    this.strings.set(hash, { bytes: Buffer.from(line.subarray(start, end)), text });
    return text;
  }

  /** Checks one value from `pos`, any depth, without recursion; `stringHasEscape` tells of the last string read. */
  private skipValue(): boolean {
    const line = this.line;
    let depth = 0;
    for (;;) {
      // A value is expected.
      this.skipWhitespace();
      if (this.pos >= this.end) return false;
      const first = line[this.pos]!;
      if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
        this.pos++;
        this.skipWhitespace();
        if (this.pos < this.end && line[this.pos] === (first === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          this.pos++;
        } else {
          if (depth === this.stack.length) {
            const grown = new Uint8Array(this.stack.length * 2);
            grown.set(this.stack);
            this.stack = grown;
          }
          this.stack[depth++] = first === OPEN_OBJECT ? 1 : 0;
          if (first === OPEN_OBJECT && !this.skipKeyAndColon()) return false;
          continue;
        }
      } else if (!this.skipScalar(first)) {
        return false;
      }
      // A value ended: close what it ends, or go on to the next member or element.
      for (;;) {
        if (depth === 0) return true;
        this.skipWhitespace();
        if (this.pos >= this.end) return false;
        const next = line[this.pos]!;
        this.pos++;
        const inObject = this.stack[depth - 1] === 1;
        if (next === COMMA) {
          if (inObject && !this.skipKeyAndColon()) return false;
          break;
        }
        if (next !== (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) return false;
        depth--;
      }
    }
  }

  private skipKeyAndColon(): boolean {
    this.skipWhitespace();
    if (this.pos >= this.end || this.line[this.pos] !== QUOTE || this.scanString() === NOT_A_STRING) return false;
    this.skipWhitespace();
    if (this.pos >= this.end || this.line[this.pos] !== COLON) return false;
    this.pos++;
    return true;
  }

  /** A string, number, true, false or null starting with `first` at `pos`. */
  private skipScalar(first: number): boolean {
    if (first === QUOTE) return this.scanString() !== NOT_A_STRING;
    if (first === 0x74) return this.skipLiteral("true");
    if (first === 0x66) return this.skipLiteral("false");
    if (first === 0x6e) return this.skipLiteral("null");
    return this.skipNumber();
  }

  /** At the opening quote: moves past the closing one and returns that position, or NOT_A_STRING. */
  private scanString(): number {
    const line = this.line;
    const end = this.end;
    let at = this.pos + 1;
    let escaped = false;
    while (at < end) {
      const byte = line[at]!;
      if (byte === QUOTE) {
        this.pos = at + 1;
        this.stringHasEscape = escaped;
        return this.pos;
      }
      if (byte < 0x20) return NOT_A_STRING;
      if (byte === BACKSLASH) {
        escaped = true;
        const kind = line[at + 1];
        if (at + 1 >= end || kind === undefined) return NOT_A_STRING;
        if (kind === 0x75) {
          if (at + 5 >= end) return NOT_A_STRING;
          for (let digit = at + 2; digit < at + 6; digit++) if (!isHexDigit(line[digit]!)) return NOT_A_STRING;
          at += 6;
          continue;
        }
        if (!SIMPLE_ESCAPES.has(kind)) return NOT_A_STRING;
        at += 2;
        continue;
      }
      at++;
    }
    return NOT_A_STRING;
  }

  private skipLiteral(literal: "true" | "false" | "null"): boolean {
    if (this.pos + literal.length > this.end) return false;
    for (let index = 0; index < literal.length; index++) if (this.line[this.pos + index] !== literal.charCodeAt(index)) return false;
    this.pos += literal.length;
    return true;
  }

  /** -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
  private skipNumber(): boolean {
    const line = this.line;
    const end = this.end;
    let at = this.pos;
    if (line[at] === 0x2d) at++;
    if (at >= end) return false;
    if (line[at] === 0x30) at++;
    else if (isDigit(line[at]!)) at = skipDigits(line, at, end);
    else return false;
    if (at < end && line[at] === 0x2e) {
      at++;
      if (at >= end || !isDigit(line[at]!)) return false;
      at = skipDigits(line, at, end);
    }
    if (at < end && (line[at] === 0x65 || line[at] === 0x45)) {
      at++;
      if (at < end && (line[at] === 0x2b || line[at] === 0x2d)) at++;
      if (at >= end || !isDigit(line[at]!)) return false;
      at = skipDigits(line, at, end);
    }
    this.pos = at;
    return true;
  }

  /** JSON's whitespace: space, tab, line feed, carriage return. */
  private skipWhitespace(): void {
    const line = this.line;
    let at = this.pos;
    while (at < this.end) {
      const byte = line[at];
      if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) break;
      at++;
    }
    this.pos = at;
  }
}

function newNode(): PathNode {
  return { children: new Map(), childKeys: [], targets: [], below: [] };
}

/** The child whose key is the (escape-free) bytes line[start, end), if any. */
function childByBytes(node: PathNode, line: Buffer, start: number, end: number): PathNode | undefined {
  const length = end - start;
  for (const { bytes, node: child } of node.childKeys) {
    if (bytes.length !== length) continue;
    let index = 0;
    while (index < length && bytes[index] === line[start + index]) index++;
    if (index === length) return child;
  }
  return undefined;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

function skipDigits(line: Buffer, at: number, end: number): number {
  while (at < end && isDigit(line[at]!)) at++;
  return at;
}

function isHexDigit(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

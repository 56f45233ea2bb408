import fc from "fast-check";

const bytesOf = (text: string): Buffer => Buffer.from(text, "utf8");

/**
 * Pieces of a hostile log: the bytes the line splitter and row parser give a
 * meaning to, whole rows (so that lines repeat, as in real logs, and collide
 * in a hash table), characters that are valid, invalid or suspicious UTF-8,
 * and a label just over the 1024-byte limit.
 */
const FRAGMENTS: readonly Buffer[] = [
  ...["\n", "\n", "\n", "\r\n", "\r", ",", ",", '"', '""', " ", "\t"].map(bytesOf),
  ...["h1", "web-1", "job", "host", "job_name", "\u00e9", "\u6771\u4eac", "\ufeff", "\u0085"].map(bytesOf),
  ...["h1,job\n", "h1,job\r\n", ' "h1" ,\tjob\n', "web-1,job\n", "host,job_name\n", "h1,job,extra,\n"].map(bytesOf),
  // Two rows whose 32-bit FNV-1a hashes are equal: a line must be found by its bytes, not its hash.
  ...["h10wzx,j\n", "h1f6cd,j\n"].map(bytesOf),
  Buffer.from([0x00]),
  Buffer.from([0x7f]),
  Buffer.from([0xff]),
  Buffer.from([0xc3]), // a truncated two-byte sequence
  Buffer.from([0x80]), // a lone continuation byte
  Buffer.from([0xc0, 0x80]), // an overlong NUL
  Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate
  Buffer.from([0xef, 0xbb, 0xbf]), // a byte-order mark
  bytesOf("x".repeat(1025)),
];

/** Arbitrary bytes, among them every byte value with newlines as rare as chance makes them. */
export function anyBytes(maxLength: number): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes));
}

/**
 * Hostile log content: arbitrary bytes, or lines built from pieces the
 * parser gives a meaning to mixed with runs of arbitrary bytes, so that short
 * inputs reach every outcome (rows, headers, blanks, each rejection).
 */
export function hostileBytes(maxFragments = 80): fc.Arbitrary<Buffer> {
  const fragment = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...FRAGMENTS) }, { weight: 1, arbitrary: anyBytes(12) });
  return fc.oneof(
    { weight: 1, arbitrary: anyBytes(512) },
    { weight: 4, arbitrary: fc.array(fragment, { maxLength: maxFragments }).map((pieces) => Buffer.concat(pieces)) },
  );
}

/**
 * How to cut an input into chunks: a list of chunk sizes, used in turn and
 * over again. Mostly small, so lines span chunks; sometimes large; sometimes
 * byte by byte, so that a chunk ends at every position of every line.
 */
export function chunkSizes(): fc.Arbitrary<number[]> {
  const size = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 16 }) }, { weight: 1, arbitrary: fc.integer({ min: 17, max: 4096 }) });
  return fc.oneof({ weight: 4, arbitrary: fc.array(size, { minLength: 1, maxLength: 8 }) }, { weight: 1, arbitrary: fc.constant<number[]>([1]) });
}

/** `bytes` cut into consecutive chunks of the sizes given, cycling through them. */
export function cut(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  for (let index = 0; at < bytes.length; index += 1) {
    const size = sizes[index % sizes.length]!;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/**
 * Hands out `chunks` as the sidecar reads a file: each one copied into the
 * same read buffer, which is scribbled over before the next. Whatever kept a
 * view of an earlier chunk instead of copying it then sees other bytes.
 */
export function* throughOneReadBuffer(chunks: readonly Buffer[]): Generator<Buffer> {
  const readBuffer = Buffer.alloc(chunks.reduce((longest, chunk) => Math.max(longest, chunk.length), 0));
  for (const chunk of chunks) {
    chunk.copy(readBuffer);
    yield readBuffer.subarray(0, chunk.length);
    readBuffer.fill(0x2c);
  }
}

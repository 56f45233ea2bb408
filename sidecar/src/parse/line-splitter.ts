/**
 * Receives the lines a {@link LineSplitter} completes. Offsets are byte
 * offsets in the file.
 */
export interface LineSink {
  /**
   * A complete line: `bytes[from, to)`, without the terminating "\n"; a
   * preceding "\r" is left in (the row parser strips it). `bytes` is the
   * caller's chunk or the splitter's carry buffer, so it is valid only during
   * the call: copy whatever must outlive it. Passing the range rather than a
   * view spares one object per line. `startOffset` is the offset of the line's
   * first byte, `endOffset` the offset just after its "\n".
   */
  line(bytes: Buffer, from: number, to: number, startOffset: number, endOffset: number): void;
  /**
   * A line longer than `maxLineBytes` (not counting its "\n"). Its bytes were
   * discarded as they arrived; it is reported once, when its "\n" arrives.
   */
  overlong(startOffset: number, endOffset: number): void;
}

/** Construction options of a {@link LineSplitter}. */
export interface LineSplitterOptions {
  /**
   * Longest line delivered to {@link LineSink.line}, in bytes, not counting
   * the "\n" (a "\r" before it does count). Also the most memory held for a
   * line that spans chunks. A positive integer, e.g. 64 KiB.
   */
  maxLineBytes: number;
}

const NEWLINE = 0x0a;

// The carry buffer starts small and doubles, so a splitter whose lines never
// span chunks, or are short, does not hold maxLineBytes for nothing.
const MIN_CARRY_BYTES = 256;

/**
 * Splits a file's bytes, fed as consecutive chunks, into "\n"-terminated lines
 * with exact byte offsets. A line that lies wholly inside a chunk is handed to
 * the sink as a range of that chunk; only a chunk's trailing partial line is
 * copied. Memory is bounded by `maxLineBytes` whatever the input: a longer
 * line is dropped as it arrives and reported with {@link LineSink.overlong}.
 *
 * A trailing partial line is held until its "\n" arrives; the splitter never
 * reports it on its own (the file may still be growing).
 */
export class LineSplitter {
  private readonly maxLineBytes: number;
  private carry: Buffer = Buffer.alloc(0);
  /** Bytes of the pending line held in `carry`; 0 while discarding. */
  private carryBytes = 0;
  /**
   * `collecting`: the pending line so far sits in `carry`.
   * `discarding`: the pending line has outgrown maxLineBytes; its bytes are
   * dropped until its "\n".
   */
  private mode: "collecting" | "discarding" = "collecting";
  private completeOffsetBytes: number;
  private readOffsetBytes: number;

  /**
   * @param startOffset file offset of the first byte the first push() will
   *   carry; it must be the start of a line.
   * @throws RangeError if `maxLineBytes` is not a positive integer or
   *   `startOffset` not a non-negative integer.
   */
  constructor(options: LineSplitterOptions, startOffset: number) {
    if (!Number.isSafeInteger(options.maxLineBytes) || options.maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${options.maxLineBytes}`);
    }
    assertOffset(startOffset, "startOffset");
    this.maxLineBytes = options.maxLineBytes;
    this.completeOffsetBytes = startOffset;
    this.readOffsetBytes = startOffset;
  }

  /** Offset just after the last complete line: the start of the pending partial line. */
  get completeOffset(): number {
    return this.completeOffsetBytes;
  }

  /** Offset of the next byte expected by {@link push}. */
  get readOffset(): number {
    return this.readOffsetBytes;
  }

  /**
   * Bytes currently held for the pending partial line: never more than
   * `maxLineBytes`, and 0 while an overlong line is being discarded.
   */
  get pendingBytes(): number {
    return this.carryBytes;
  }

  /**
   * Feeds the next bytes of the file and calls the sink synchronously, in
   * order, for every line this chunk completes.
   *
   * While the sink is being called for a line, the splitter already stands
   * just after that line (`completeOffset` and `readOffset` are its
   * `endOffset`). So if the sink throws, the error propagates and the rest of
   * the chunk is not consumed: the caller may push it again from `readOffset`.
   *
   * @param chunkOffset file offset of `chunk[0]`.
   * @throws RangeError if `chunkOffset` is not {@link readOffset}: the caller
   *   lost track of its position, and splitting on would misplace every later
   *   line.
   */
  push(chunk: Buffer, sink: LineSink, chunkOffset: number): void {
    if (chunkOffset !== this.readOffsetBytes) {
      throw new RangeError(`chunk starts at offset ${chunkOffset}, expected ${this.readOffsetBytes}`);
    }
    let position = 0;
    if (this.mode === "discarding" || this.carryBytes > 0) {
      const newline = chunk.indexOf(NEWLINE);
      if (newline === -1) {
        this.holdPartial(chunk, 0);
        return;
      }
      this.finishPendingLine(chunk, newline, sink);
      position = newline + 1;
    }
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, position);
      if (newline === -1) break;
      const startOffset = chunkOffset + position;
      const endOffset = chunkOffset + newline + 1;
      this.completeOffsetBytes = endOffset;
      this.readOffsetBytes = endOffset;
      if (newline - position > this.maxLineBytes) {
        sink.overlong(startOffset, endOffset);
      } else {
        sink.line(chunk, position, newline, startOffset, endOffset);
      }
      position = newline + 1;
    }
    this.holdPartial(chunk, position);
  }

  /** Forgets any partial line and restarts at `offset`, which must be the start of a line. */
  reset(offset: number): void {
    assertOffset(offset, "offset");
    this.carryBytes = 0;
    this.mode = "collecting";
    this.completeOffsetBytes = offset;
    this.readOffsetBytes = offset;
  }

  /** Completes the line pending from earlier chunks with `chunk[0, newline)`. */
  private finishPendingLine(chunk: Buffer, newline: number, sink: LineSink): void {
    const startOffset = this.completeOffsetBytes;
    const endOffset = this.readOffsetBytes + newline + 1;
    const lineBytes = this.carryBytes + newline;
    const discarded = this.mode === "discarding" || lineBytes > this.maxLineBytes;
    if (!discarded) {
      this.ensureCarryCapacity(lineBytes);
      chunk.copy(this.carry, this.carryBytes, 0, newline);
    }
    this.carryBytes = 0;
    this.mode = "collecting";
    this.completeOffsetBytes = endOffset;
    this.readOffsetBytes = endOffset;
    if (discarded) {
      sink.overlong(startOffset, endOffset);
    } else {
      // The view stays valid through the call: carry is only written by a
      // later push().
      sink.line(this.carry, 0, lineBytes, startOffset, endOffset);
    }
  }

  /** Appends `chunk[from, end)`, which holds no "\n", to the pending line. */
  private holdPartial(chunk: Buffer, from: number): void {
    const tailBytes = chunk.length - from;
    if (this.mode === "collecting") {
      if (this.carryBytes + tailBytes > this.maxLineBytes) {
        this.mode = "discarding";
        this.carryBytes = 0;
      } else if (tailBytes > 0) {
        this.ensureCarryCapacity(this.carryBytes + tailBytes);
        chunk.copy(this.carry, this.carryBytes, from);
        this.carryBytes += tailBytes;
      }
    }
    this.readOffsetBytes += tailBytes;
  }

  /** Grows `carry` to hold `bytes` (at most maxLineBytes), keeping its content. */
  private ensureCarryCapacity(bytes: number): void {
    if (bytes <= this.carry.length) return;
    const capacity = Math.min(this.maxLineBytes, Math.max(bytes, 2 * this.carry.length, MIN_CARRY_BYTES));
    const grown = Buffer.allocUnsafe(capacity);
    this.carry.copy(grown, 0, 0, this.carryBytes);
    this.carry = grown;
  }
}

function assertOffset(offset: number, name: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${offset}`);
  }
}

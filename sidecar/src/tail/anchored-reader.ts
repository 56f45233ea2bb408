import { ANCHOR_WINDOW_BYTES, anchorOf, type FollowedFile } from "./followed-file";

/** What one read found: new bytes (possibly none) at a file offset, or proof that the file was rewritten. */
export type AnchoredRead =
  | { readonly kind: "read"; readonly bytes: Buffer; readonly startOffset: number }
  | { readonly kind: "rewritten"; readonly why: string };

/**
 * Reads a file forward from a position, proving at every read that the
 * bytes before the position are still those read before: each read fetches
 * the last ANCHOR_WINDOW_BYTES before the position with the new bytes, in
 * the same system call, so a file truncated or rewritten in place is seen
 * at once. Anchors of offsets just read come from the bytes read, without
 * reading them again.
 */
export class AnchoredReader {
  private position: number;
  /** The last bytes read before the position; a view of windowStorage or of a fresh buffer. */
  private window: Buffer = Buffer.alloc(0);
  private readonly windowStorage = Buffer.allocUnsafe(ANCHOR_WINDOW_BYTES);
  /** The bytes the latest read returned (window included) and the file offset of the first. */
  private recent: { readonly bytes: Buffer; readonly startOffset: number } | undefined;
  private lastReadFilledBuffer = true;

  /** `buffer` is read into: what read() returns is a view of it, valid until the next read. */
  constructor(
    private readonly file: FollowedFile,
    private readonly buffer: Buffer,
    position: number,
  ) {
    this.position = position;
  }

  /** The file offset the next read starts at. */
  get offset(): number {
    return this.position;
  }

  /** True when the latest read did not fill the buffer: the end of the file was reached. */
  get caughtUp(): boolean {
    return !this.lastReadFilledBuffer;
  }

  /** Reads what follows the position, moving past it. */
  async read(): Promise<AnchoredRead> {
    const windowBytes = this.window.length;
    if (windowBytes < Math.min(ANCHOR_WINDOW_BYTES, this.position)) {
      return { kind: "rewritten", why: `file is shorter than the read position ${this.position}` };
    }
    const startOffset = this.position - windowBytes;
    const got = await this.file.readAt(this.buffer, startOffset);
    if (got < windowBytes) return { kind: "rewritten", why: `file shrank from ${this.position} to ${startOffset + got} bytes` };
    if (this.buffer.compare(this.window, 0, windowBytes, 0, windowBytes) !== 0) {
      return { kind: "rewritten", why: "content before the read position changed" };
    }
    this.lastReadFilledBuffer = got === this.buffer.length;
    this.recent = { bytes: this.buffer.subarray(0, got), startOffset };
    const read = { kind: "read", bytes: this.buffer.subarray(windowBytes, got), startOffset: this.position } as const;
    if (got > windowBytes) {
      const kept = Math.min(ANCHOR_WINDOW_BYTES, got);
      this.buffer.copy(this.windowStorage, 0, got - kept, got);
      this.window = this.windowStorage.subarray(0, kept);
      this.position += got - windowBytes;
    }
    return read;
  }

  /**
   * The anchor at `endOffset`: from the latest read's bytes when they cover
   * its window (taken at once, before the next read reuses the buffer),
   * otherwise read from the file.
   */
  anchorAt(endOffset: number): Promise<string | undefined> {
    const recent = this.recent;
    if (recent) {
      const from = endOffset - Math.min(endOffset, ANCHOR_WINDOW_BYTES) - recent.startOffset;
      const to = endOffset - recent.startOffset;
      if (from >= 0 && to <= recent.bytes.length) return Promise.resolve(anchorOf(recent.bytes.subarray(from, to)));
    }
    return this.file.anchorAt(endOffset);
  }

  /** Moves the position to `offset`, forgetting what was read. */
  async moveTo(offset: number): Promise<void> {
    this.position = offset;
    this.recent = undefined;
    this.lastReadFilledBuffer = true;
    this.window = await this.file.windowBefore(offset);
  }
}

import type { ParsedRow, RowParser } from "./parsed-row";
import { defaultRowParser } from "./row-parser";

/** Distinct lines remembered before the cache must be cleared. */
export const ROW_CACHE_ENTRIES = 65_536;

/** Bytes of distinct lines remembered before the cache must be cleared. */
export const ROW_CACHE_BYTES = 4 * 1024 * 1024;

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/**
 * Spreads every bit of a hash over its low bits, which pick the slot: hashing
 * a word at a time leaves a word's high bits in the hash's high bits only.
 * (The finalizer of MurmurHash3.)
 */
function mixed(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/**
 * Parses lines, remembering each distinct line's result under a small
 * integer id. Log files repeat a few thousand distinct lines millions of
 * times, so most rows cost a hash and a byte comparison: no parse, no string,
 * no object. The lines are kept by their bytes in one arena and found through
 * an open-addressing table, so memory is fixed at construction: when either
 * is full, {@link idOf} answers -1 and the owner clears the cache.
 *
 * This is the sidecar's hottest loop, so lines are hashed and compared four
 * bytes at a time, through DataViews (unaligned little-endian loads, which
 * V8's optimizing compilers turn into single instructions): half the time of
 * a byte at a time for lines of some 40 bytes.
 */
export class RowCache {
  private readonly slots: Int32Array;
  private readonly slotMask: number;
  private readonly entryHash: Int32Array;
  private readonly entryStart: Int32Array;
  private readonly entryLength: Int32Array;
  private readonly rows: ParsedRow[] = [];
  private readonly arena: Buffer;
  private readonly arenaView: DataView;
  private arenaUsed = 0;
  /** The buffer lines were last looked up in, and a view of it: callers pass the same read buffer over and over. */
  private viewed: Buffer | undefined;
  private view: DataView | undefined;

  /** `parser` parses each line on first sight; its results must depend on the line's bytes alone once the header is read. */
  constructor(
    readonly maxEntries: number = ROW_CACHE_ENTRIES,
    arenaBytes: number = ROW_CACHE_BYTES,
    readonly parser: RowParser = defaultRowParser(),
  ) {
    // At most half full, so probe sequences stay short.
    let slotCount = 1;
    while (slotCount < 2 * maxEntries) slotCount *= 2;
    this.slots = new Int32Array(slotCount);
    this.slotMask = slotCount - 1;
    this.entryHash = new Int32Array(maxEntries);
    this.entryStart = new Int32Array(maxEntries);
    this.entryLength = new Int32Array(maxEntries);
    this.arena = Buffer.alloc(arenaBytes);
    this.arenaView = viewOf(this.arena);
  }

  /** Distinct lines remembered now. */
  get size(): number {
    return this.rows.length;
  }

  /**
   * The id of the line `bytes[from, to)`, parsing it on first sight (never as
   * a first line: headers and byte-order marks are the caller's to handle).
   * -1 when the line is new and the cache has no room for it.
   */
  idOf(bytes: Buffer, from: number, to: number): number {
    if (bytes !== this.viewed) {
      this.viewed = bytes;
      this.view = viewOf(bytes);
    }
    const view = this.view!;
    let hash = FNV_OFFSET;
    let index = from;
    for (const wordsEnd = to - 3; index < wordsEnd; index += 4) hash = Math.imul(hash ^ view.getInt32(index, true), FNV_PRIME);
    for (; index < to; index++) hash = Math.imul(hash ^ bytes[index]!, FNV_PRIME);
    hash = mixed(hash);
    let slot = hash & this.slotMask;
    for (let stored = this.slots[slot]!; stored !== 0; stored = this.slots[slot]!) {
      const id = stored - 1;
      if (this.entryHash[id] === hash && this.holds(id, view, bytes, from, to)) return id;
      slot = (slot + 1) & this.slotMask;
    }
    const length = to - from;
    if (this.rows.length === this.maxEntries || this.arenaUsed + length > this.arena.length) return -1;
    const id = this.rows.length;
    bytes.copy(this.arena, this.arenaUsed, from, to);
    this.entryHash[id] = hash;
    this.entryStart[id] = this.arenaUsed;
    this.entryLength[id] = length;
    this.arenaUsed += length;
    this.rows.push(this.parser.parse(bytes.subarray(from, to), false));
    this.slots[slot] = id + 1;
    return id;
  }

  /** The parse result of a line by its id; shared, so treat it as immutable. */
  row(id: number): ParsedRow {
    return this.rows[id]!;
  }

  /** Forgets every line; ids given out before mean nothing after. */
  clear(): void {
    this.slots.fill(0);
    this.rows.length = 0;
    this.arenaUsed = 0;
  }

  /** Whether entry `id` holds the line `bytes[from, to)`; `view` views `bytes`. */
  private holds(id: number, view: DataView, bytes: Buffer, from: number, to: number): boolean {
    if (this.entryLength[id] !== to - from) return false;
    let stored = this.entryStart[id]!;
    let index = from;
    for (const wordsEnd = to - 3; index < wordsEnd; index += 4, stored += 4) {
      if (this.arenaView.getInt32(stored, true) !== view.getInt32(index, true)) return false;
    }
    for (; index < to; index++, stored++) {
      if (this.arena[stored] !== bytes[index]) return false;
    }
    return true;
  }
}

function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

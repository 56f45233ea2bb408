import { MAX_DELTAS_PER_BATCH, type RejectReason } from "@logtally/proto";
import type { LineSink } from "../parse/line-splitter";
import { RowCache } from "../parse/row-cache";
import { parseRow, type ParsedRow } from "../parse/row-parser";

type CountedRow = Extract<ParsedRow, { kind: "row" }>;

/** The per-pair counts of exactly the complete lines in [startOffset, endOffset). */
export interface SealedBatch {
  readonly startOffset: number;
  readonly endOffset: number;
  readonly deltas: Array<{ host: string; jobName: string; count: number }>;
  readonly rows: number;
  readonly rejected: Array<{ reason: RejectReason; count: number }>;
}

/** Lines parsed, for metrics; one tally can outlive many batchers. */
export interface LineTally {
  counted: number;
  skipped: number;
  readonly rejected: Map<RejectReason, number>;
}

/** A tally at zero. */
export function emptyTally(): LineTally {
  return { counted: 0, skipped: 0, rejected: new Map() };
}

type Delta = SealedBatch["deltas"][number];

interface OpenBatch {
  startOffset: number;
  endOffset: number;
  rows: number;
  /** Row-cache ids counted in this batch; their counts are in the batcher's `countsById`. */
  cachedIds: number[];
  /**
   * Rows counted apart from the cache, by pair: first lines, lines the cache
   * had no room for, and counts moved out when the cache was cleared. Lines
   * that differ (`a,b` and `"a", b`) but name one pair are merged here.
   */
  pairs: Map<string, Delta>;
  rejected: Map<RejectReason, number>;
}

/**
 * Turns lines into delta batches: parses each line and adds it to the open
 * batch, which is sealed when it covers `maxBatchBytes` or would exceed the
 * protocol's pair limit. Batches tile the byte range without gaps: each
 * starts where the previous ended, and header, blank and rejected lines lie
 * inside them too, so the committed offset always moves over every line.
 *
 * Repeated lines are counted by their row-cache id in a typed array, so the
 * common row costs no parse, no string and no map lookup.
 */
export class DeltaBatcher implements LineSink {
  private open: OpenBatch | undefined;
  /** Rows of the open batch per row-cache id; 0 for ids not in it. */
  private readonly countsById: Float64Array;
  private sealed: SealedBatch[] = [];
  /**
   * @param maxBatchBytes a batch is sealed once it covers this many bytes
   * @param tally where parsed lines are counted, for metrics
   * @param rowCache where distinct lines are remembered (its own by default)
   */
  constructor(
    private readonly maxBatchBytes: number,
    private readonly tally: LineTally = emptyTally(),
    private readonly rowCache: RowCache = new RowCache(),
  ) {
    this.countsById = new Float64Array(rowCache.maxEntries);
  }

  line(bytes: Buffer, from: number, to: number, startOffset: number, endOffset: number): void {
    if (startOffset === 0) {
      // The first line may be a header or carry a byte-order mark.
      this.countParsed(parseRow(bytes.subarray(from, to), true), startOffset);
    } else {
      let id = this.rowCache.idOf(bytes, from, to);
      if (id < 0 && this.rowCache.size > 0) {
        this.releaseRowCache();
        id = this.rowCache.idOf(bytes, from, to);
      }
      if (id < 0) this.countParsed(parseRow(bytes.subarray(from, to), false), startOffset);
      else this.countCached(id, startOffset);
    }
    this.extend(endOffset);
  }

  overlong(startOffset: number, endOffset: number): void {
    this.reject(startOffset, "line_too_long");
    this.extend(endOffset);
  }

  /** True while lines wait in a batch that is not sealed yet. */
  get hasOpenBatch(): boolean {
    return this.open !== undefined;
  }

  /** Seals the open batch, if it covers any line. */
  seal(): void {
    const batch = this.open;
    if (!batch) return;
    this.moveCachedCounts(batch);
    this.open = undefined;
    this.sealed.push({
      startOffset: batch.startOffset,
      endOffset: batch.endOffset,
      deltas: [...batch.pairs.values()],
      rows: batch.rows,
      rejected: [...batch.rejected].map(([reason, count]) => ({ reason, count })),
    });
  }

  /** Removes and returns the sealed batches, oldest first. */
  takeSealed(): SealedBatch[] {
    const sealed = this.sealed;
    this.sealed = [];
    return sealed;
  }

  /** Drops everything not yet taken: the reader is about to re-read from elsewhere. */
  discard(): void {
    for (const id of this.open?.cachedIds ?? []) this.countsById[id] = 0;
    this.open = undefined;
    this.sealed = [];
  }

  private countCached(id: number, startOffset: number): void {
    const row = this.rowCache.row(id);
    if (row.kind !== "row") return this.countUncounted(row, startOffset);
    let batch = this.batchFor(startOffset);
    if (this.countsById[id] === 0) {
      if (distinctRows(batch) >= MAX_DELTAS_PER_BATCH) {
        this.seal();
        batch = this.batchFor(startOffset);
      }
      batch.cachedIds.push(id);
    }
    this.countsById[id] = this.countsById[id]! + 1;
    batch.rows++;
    this.tally.counted++;
  }

  private countParsed(row: ParsedRow, startOffset: number): void {
    if (row.kind !== "row") return this.countUncounted(row, startOffset);
    let batch = this.batchFor(startOffset);
    if (!batch.pairs.has(pairKey(row)) && distinctRows(batch) >= MAX_DELTAS_PER_BATCH) {
      this.seal();
      batch = this.batchFor(startOffset);
    }
    addToPairs(batch.pairs, row, 1);
    batch.rows++;
    this.tally.counted++;
  }

  private countUncounted(row: Exclude<ParsedRow, CountedRow>, startOffset: number): void {
    if (row.kind === "rejected") {
      this.reject(startOffset, row.reason);
    } else {
      this.batchFor(startOffset);
      this.tally.skipped++;
    }
  }

  /** Clears the full row cache, first moving the open batch's counts out of the ids it is about to forget. */
  private releaseRowCache(): void {
    if (this.open) this.moveCachedCounts(this.open);
    this.rowCache.clear();
  }

  private moveCachedCounts(batch: OpenBatch): void {
    for (const id of batch.cachedIds) {
      addToPairs(batch.pairs, this.rowCache.row(id) as CountedRow, this.countsById[id]!);
      this.countsById[id] = 0;
    }
    batch.cachedIds = [];
  }

  private reject(startOffset: number, reason: RejectReason): void {
    const batch = this.batchFor(startOffset);
    batch.rejected.set(reason, (batch.rejected.get(reason) ?? 0) + 1);
    this.tally.rejected.set(reason, (this.tally.rejected.get(reason) ?? 0) + 1);
  }

  private batchFor(startOffset: number): OpenBatch {
    this.open ??= { startOffset, endOffset: startOffset, rows: 0, cachedIds: [], pairs: new Map(), rejected: new Map() };
    return this.open;
  }

  private extend(endOffset: number): void {
    const batch = this.open!;
    batch.endOffset = endOffset;
    if (endOffset - batch.startOffset >= this.maxBatchBytes) this.seal();
  }
}

/** An upper bound on the distinct pairs in a batch. */
function distinctRows(batch: OpenBatch): number {
  return batch.cachedIds.length + batch.pairs.size;
}

function pairKey(row: CountedRow): string {
  return `${row.host}\u0000${row.jobName}`;
}

function addToPairs(pairs: Map<string, Delta>, row: CountedRow, count: number): void {
  const key = pairKey(row);
  const delta = pairs.get(key);
  if (delta) delta.count += count;
  else pairs.set(key, { host: row.host, jobName: row.jobName, count });
}

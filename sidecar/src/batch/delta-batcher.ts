import { MAX_DELTAS_PER_BATCH, type RejectReason } from "@logtally/proto";
import type { LineSink } from "../parse/line-splitter";
import type { ParsedRow, RowParser } from "../parse/parsed-row";
import { RowCache, ROW_CACHE_BYTES, ROW_CACHE_ENTRIES } from "../parse/row-cache";
import { defaultRowParser } from "../parse/row-parser";

type CountedRow = Extract<ParsedRow, { kind: "row" }>;

/** Rows of one series: its label values, in the order of the spec's label names. */
export interface SeriesDelta {
  readonly labels: readonly string[];
  count: number;
}

/**
 * The per-series counts of exactly the complete lines in [startOffset,
 * endOffset). Lines skipped (blank, header, filtered by --where) lie in the
 * range too, neither in `rows` nor in `rejected`.
 */
export interface SealedBatch {
  readonly startOffset: number;
  readonly endOffset: number;
  readonly deltas: SeriesDelta[];
  /** The sum of the deltas' counts. */
  readonly rows: number;
  readonly rejected: Array<{ reason: RejectReason; count: number }>;
}

/** Lines parsed, for metrics; one tally can outlive many batchers. */
export interface LineTally {
  counted: number;
  /** Blank and header lines. */
  skipped: number;
  /** Lines not matching --where. */
  filtered: number;
  readonly rejected: Map<RejectReason, number>;
}

/** A tally at zero. */
export function emptyTally(): LineTally {
  return { counted: 0, skipped: 0, filtered: 0, rejected: new Map() };
}

interface OpenBatch {
  startOffset: number;
  endOffset: number;
  rows: number;
  /** Row-cache ids counted in this batch; their counts are in the batcher's `countsById`. */
  cachedIds: number[];
  /**
   * Rows counted apart from the cache, by series: first lines, lines the
   * cache had no room for or that a parser does not cache, and counts moved
   * out when the cache was cleared. Lines that differ (`a,b` and `"a", b`)
   * but name one series are merged here.
   */
  series: Map<string, SeriesDelta>;
  rejected: Map<RejectReason, number>;
}

/**
 * Turns lines into delta batches: parses each line and adds it to the open
 * batch, keyed by its label values, which is sealed when it covers
 * `maxBatchBytes` or would exceed the protocol's delta limit. Batches tile
 * the byte range without gaps: each starts where the previous ended, and
 * header, blank, filtered and rejected lines lie inside them too, so the
 * committed offset always moves over every line.
 *
 * Repeated lines are counted by their row-cache id in a typed array, so the
 * common row costs no parse, no string and no map lookup.
 */
export class DeltaBatcher implements LineSink {
  private open: OpenBatch | undefined;
  /** Rows of the open batch per row-cache id; 0 for ids not in it. */
  private readonly countsById: Float64Array;
  private sealed: SealedBatch[] = [];
  private readonly rowCache: RowCache | undefined;
  /**
   * @param maxBatchBytes a batch is sealed once it covers this many bytes
   * @param tally where parsed lines are counted, for metrics
   * @param parser how lines are read (the default rules by default); one per file generation
   * @param rowCache where distinct lines are remembered, parsed by `parser`:
   *   its own by default, none for a parser whose lines seldom repeat
   */
  constructor(
    private readonly maxBatchBytes: number,
    private readonly tally: LineTally = emptyTally(),
    private readonly parser: RowParser = defaultRowParser(),
    rowCache?: RowCache,
  ) {
    if (rowCache && rowCache.parser !== parser) throw new Error("the row cache must parse with the batcher's parser");
    this.rowCache = rowCache ?? (parser.repeatsLines ? new RowCache(ROW_CACHE_ENTRIES, ROW_CACHE_BYTES, parser) : undefined);
    this.countsById = new Float64Array(this.rowCache?.maxEntries ?? 0);
  }

  line(bytes: Buffer, from: number, to: number, startOffset: number, endOffset: number): void {
    if (startOffset === 0) {
      // The first line may be a header or carry a byte-order mark.
      this.countParsed(this.parser.parse(bytes.subarray(from, to), true), startOffset);
    } else if (this.rowCache === undefined) {
      this.countParsed(this.parser.parse(bytes.subarray(from, to), false), startOffset);
    } else {
      let id = this.rowCache.idOf(bytes, from, to);
      if (id < 0 && this.rowCache.size > 0) {
        this.releaseRowCache(this.rowCache);
        id = this.rowCache.idOf(bytes, from, to);
      }
      if (id < 0) this.countParsed(this.parser.parse(bytes.subarray(from, to), false), startOffset);
      else this.countCached(id, startOffset);
    }
    this.extend(endOffset);
  }

  overlong(startOffset: number, endOffset: number): void {
    // A header too long to read leaves the columns it names unknown.
    if (startOffset === 0) this.parser.learnHeader(undefined);
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
      deltas: [...batch.series.values()],
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
    const row = this.rowCache!.row(id);
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
    const key = seriesKey(row);
    if (!batch.series.has(key) && distinctRows(batch) >= MAX_DELTAS_PER_BATCH) {
      this.seal();
      batch = this.batchFor(startOffset);
    }
    addToSeries(batch.series, key, row, 1);
    batch.rows++;
    this.tally.counted++;
  }

  private countUncounted(row: Exclude<ParsedRow, CountedRow>, startOffset: number): void {
    if (row.kind === "rejected") {
      this.reject(startOffset, row.reason);
    } else {
      this.batchFor(startOffset);
      if (row.why === "filtered") this.tally.filtered++;
      else this.tally.skipped++;
    }
  }

  /** Clears the full row cache, first moving the open batch's counts out of the ids it is about to forget. */
  private releaseRowCache(rowCache: RowCache): void {
    if (this.open) this.moveCachedCounts(this.open);
    rowCache.clear();
  }

  private moveCachedCounts(batch: OpenBatch): void {
    for (const id of batch.cachedIds) {
      const row = this.rowCache!.row(id) as CountedRow;
      addToSeries(batch.series, seriesKey(row), row, this.countsById[id]!);
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
    this.open ??= { startOffset, endOffset: startOffset, rows: 0, cachedIds: [], series: new Map(), rejected: new Map() };
    return this.open;
  }

  private extend(endOffset: number): void {
    const batch = this.open!;
    batch.endOffset = endOffset;
    if (endOffset - batch.startOffset >= this.maxBatchBytes) this.seal();
  }
}

/** An upper bound on the distinct series in a batch. */
function distinctRows(batch: OpenBatch): number {
  return batch.cachedIds.length + batch.series.size;
}

// NUL cannot occur in a valid label value, so the joined values tell series apart.
function seriesKey(row: CountedRow): string {
  return row.labels.length === 2 ? `${row.labels[0]}\u0000${row.labels[1]}` : row.labels.join("\u0000");
}

function addToSeries(series: Map<string, SeriesDelta>, key: string, row: CountedRow, count: number): void {
  const delta = series.get(key);
  if (delta) delta.count += count;
  else series.set(key, { labels: row.labels, count });
}

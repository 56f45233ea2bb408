import { MAX_DELTAS_PER_BATCH, type RejectReason } from "@logtally/proto";
import type { LineSink } from "./line-splitter";
import { RowCache } from "./row-cache";
import type { ParsedRow } from "./row-parser";

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

interface OpenBatch {
  startOffset: number;
  endOffset: number;
  /**
   * Rows per parsed row, keyed by the shared result of the row cache; lines
   * that differ (`a,b` and `"a", b`) but name one pair are merged when sealed.
   */
  countsByRow: Map<CountedRow, number>;
  rows: number;
  rejected: Map<RejectReason, number>;
}

/**
 * Turns lines into delta batches: parses each line and adds it to the open
 * batch, which is sealed when it covers `maxBatchBytes` or would exceed the
 * protocol's pair limit. Batches tile the byte range without gaps: each
 * starts where the previous ended, and header, blank and rejected lines lie
 * inside them too, so the committed offset always moves over every line.
 */
export class DeltaBatcher implements LineSink {
  private open: OpenBatch | undefined;
  private readonly rowCache = new RowCache();
  private sealed: SealedBatch[] = [];
  /**
   * @param maxBatchBytes a batch is sealed once it covers this many bytes
   * @param tally where parsed lines are counted, for metrics
   */
  constructor(
    private readonly maxBatchBytes: number,
    private readonly tally: LineTally = emptyTally(),
  ) {}

  line(line: Buffer, startOffset: number, endOffset: number): void {
    const row = this.rowCache.parse(line, startOffset === 0);
    if (row.kind === "row") {
      let batch = this.batchFor(startOffset);
      const count = batch.countsByRow.get(row);
      // Distinct rows bound distinct pairs from above: sealing on them keeps
      // every batch within the protocol's pair limit.
      if (count === undefined && batch.countsByRow.size >= MAX_DELTAS_PER_BATCH) {
        this.seal();
        batch = this.batchFor(startOffset);
      }
      batch.countsByRow.set(row, (count ?? 0) + 1);
      batch.rows++;
      this.tally.counted++;
    } else if (row.kind === "rejected") {
      this.reject(startOffset, row.reason);
    } else {
      this.batchFor(startOffset);
      this.tally.skipped++;
    }
    this.extend(endOffset);
  }

  overlong(startOffset: number, endOffset: number): void {
    this.reject(startOffset, "line_too_long");
    this.extend(endOffset);
  }

  /** Seals the open batch, if it covers any line. */
  seal(): void {
    const batch = this.open;
    if (!batch) return;
    this.open = undefined;
    this.sealed.push({
      startOffset: batch.startOffset,
      endOffset: batch.endOffset,
      deltas: deltasOf(batch.countsByRow),
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
    this.open = undefined;
    this.sealed = [];
  }

  private reject(startOffset: number, reason: RejectReason): void {
    const batch = this.batchFor(startOffset);
    batch.rejected.set(reason, (batch.rejected.get(reason) ?? 0) + 1);
    this.tally.rejected.set(reason, (this.tally.rejected.get(reason) ?? 0) + 1);
  }

  private batchFor(startOffset: number): OpenBatch {
    this.open ??= { startOffset, endOffset: startOffset, countsByRow: new Map(), rows: 0, rejected: new Map() };
    return this.open;
  }

  private extend(endOffset: number): void {
    const batch = this.open!;
    batch.endOffset = endOffset;
    if (endOffset - batch.startOffset >= this.maxBatchBytes) this.seal();
  }
}

/** One delta per (host, job_name) pair. */
function deltasOf(countsByRow: ReadonlyMap<CountedRow, number>): SealedBatch["deltas"] {
  const byPair = new Map<string, { host: string; jobName: string; count: number }>();
  for (const [{ host, jobName }, count] of countsByRow) {
    const key = `${host}\u0000${jobName}`;
    const delta = byPair.get(key);
    if (delta) delta.count += count;
    else byPair.set(key, { host, jobName, count });
  }
  return [...byPair.values()];
}

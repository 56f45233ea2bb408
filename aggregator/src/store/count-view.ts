import type { RejectReason } from "@logtally/proto";
import { generationKey, type CommittedView, type GroupWrites } from "../ingest/batch-group";
import { pairKey } from "../ingest/ledger";

/** Counted rows of one (host, job_name) pair. */
export interface PairCount {
  readonly host: string;
  readonly jobName: string;
  count: number;
}

/** Committed progress of one file generation of one source. */
export interface GenerationState {
  readonly sourceId: string;
  readonly generation: string;
  readonly fileId: string;
  readonly epoch: number;
  committedOffset: number;
  anchor: string;
  updatedMs: number;
  /** Creation time of the file counted, as first reported; 0 when unknown. */
  fileBirthMs: number;
  /** Where the file was read, symbolic links resolved; "" when not reported. */
  filePath: string;
}

/** Source-level facts kept for inspection. */
export interface SourceState {
  readonly sourceId: string;
  /** When the source's first batch was applied: where the source begins. */
  readonly createdMs: number;
  latestGeneration: string;
  lastSeenMs: number;
  lastSidecarId: string;
}

/**
 * The whole committed state, or what a group changes of it, as rows to
 * store verbatim: totals, never increments.
 */
export interface StateRows {
  readonly counts: readonly PairCount[];
  readonly generations: readonly GenerationState[];
  readonly sources: readonly SourceState[];
  readonly rejected: ReadonlyArray<readonly [RejectReason, number]>;
}

/**
 * The committed state in memory, for the ledger's decisions and for every
 * read. It holds the state's rules: a group's writes become new totals here
 * ({@link next}), and the database stores those totals as they are, so no
 * rule is written twice, once in SQL and once in JavaScript.
 */
export class CountView implements CommittedView {
  private readonly counts = new Map<string, PairCount>();
  private readonly generations = new Map<string, GenerationState>();
  private readonly latestEpochs = new Map<string, number>();
  private readonly sources = new Map<string, SourceState>();
  private readonly rejectedRows = new Map<RejectReason, number>();
  private countedRows = 0;

  constructor(
    rows: StateRows,
    /** Most pairs counted. */
    readonly maxSeries: number,
  ) {
    this.apply(rows);
  }

  /** The rows a group's writes lead to, from the state now; changes nothing until apply(). */
  next(writes: GroupWrites): StateRows {
    return {
      counts: [...writes.pairs.entries()].map(([key, delta]) => ({
        host: delta.host,
        jobName: delta.jobName,
        count: (this.counts.get(key)?.count ?? 0) + delta.count,
      })),
      generations: [...writes.generations.values()].map((generation) => ({ ...generation })),
      sources: [...writes.sources.values()].map((source) => ({ ...source })),
      rejected: [...writes.rejected].map(([reason, count]) => [reason, (this.rejectedRows.get(reason) ?? 0) + count] as const),
    };
  }

  /** Takes `rows` as the committed state of what they cover; returns the pairs whose counts they set, live. */
  apply(rows: StateRows): Array<Readonly<PairCount>> {
    const changed: PairCount[] = [];
    for (const row of rows.counts) {
      const key = pairKey(row.host, row.jobName);
      let pair = this.counts.get(key);
      this.countedRows += row.count - (pair?.count ?? 0);
      if (pair) pair.count = row.count;
      else this.counts.set(key, (pair = { ...row }));
      changed.push(pair);
    }
    for (const generation of rows.generations) this.rememberGeneration(generation);
    for (const source of rows.sources) this.sources.set(source.sourceId, { ...source });
    for (const [reason, count] of rows.rejected) this.rejectedRows.set(reason, count);
    return changed;
  }

  private rememberGeneration(state: GenerationState): void {
    const key = generationKey(state.sourceId, state.generation);
    const existing = this.generations.get(key);
    if (existing) Object.assign(existing, state);
    else this.generations.set(key, { ...state });
    const fileKey = generationKey(state.sourceId, state.fileId);
    if ((this.latestEpochs.get(fileKey) ?? 0) < state.epoch) this.latestEpochs.set(fileKey, state.epoch);
  }

  /** The generation's committed state, or undefined if no batch of it was ever applied. */
  generation(sourceId: string, generation: string): GenerationState | undefined {
    return this.generations.get(generationKey(sourceId, generation));
  }

  /** Highest epoch applied for a file of a source; 0 when none. */
  latestEpoch(sourceId: string, fileId: string): number {
    return this.latestEpochs.get(generationKey(sourceId, fileId)) ?? 0;
  }

  /** When the source's first batch was applied; undefined for a source never applied. */
  sourceCreatedMs(sourceId: string): number | undefined {
    return this.sources.get(sourceId)?.createdMs;
  }

  /** Whether a (host, job_name) pair is counted. */
  isCounted(host: string, jobName: string): boolean {
    return this.counts.has(pairKey(host, jobName));
  }

  /** Distinct pairs counted. */
  get seriesCount(): number {
    return this.counts.size;
  }

  /** Records that a source was heard from without a durable change (not persisted). */
  touchSource(sourceId: string, sidecarId: string, nowMs: number): void {
    const source = this.sources.get(sourceId);
    if (!source) return;
    source.lastSeenMs = nowMs;
    source.lastSidecarId = sidecarId;
  }

  /** Every pair's count; the map is live, callers must not modify it. */
  allCounts(): ReadonlyMap<string, Readonly<PairCount>> {
    return this.counts;
  }

  /** Rows counted in total, over every pair. */
  totalCounted(): number {
    return this.countedRows;
  }

  /** Every known source. */
  allSources(): ReadonlyMap<string, Readonly<SourceState>> {
    return this.sources;
  }

  /** Every generation of every source. */
  allGenerations(): Iterable<Readonly<GenerationState>> {
    return this.generations.values();
  }

  /** The whole state as rows, copied: what a store would write to hold exactly this. */
  rows(): StateRows {
    return {
      counts: [...this.counts.values()].map((pair) => ({ ...pair })),
      generations: [...this.generations.values()].map((generation) => ({ ...generation })),
      sources: [...this.sources.values()].map((source) => ({ ...source })),
      rejected: [...this.rejectedRows],
    };
  }

  /** Rows the sidecars reported as not counted, by reason, since the state began. */
  rejectedByReason(): ReadonlyMap<RejectReason, number> {
    return this.rejectedRows;
  }
}

import { normalizeRejectReason, type RejectReason } from "@logtally/proto";
import { decideBatch, seriesKey, type BatchDecision } from "./ledger";
import { splitBySeriesLimit, type SeriesDelta } from "./series-limit";

/**
 * Decides a group of batches committed together, each on its own, and
 * gathers what the applied ones write into one set of changes.
 *
 * Pure: no SQL and no gRPC. Each batch is decided by the ledger's rules
 * against the committed state as the batches before it in the group leave it:
 * two sidecars of one shared file whose batches land in one group get one
 * `apply` and one `duplicate`, exactly as if committed one by one. What the
 * group writes is merged: a series counted by ten batches is one upsert, a
 * generation advanced twice is written once at its last offset.
 */

/** A well-formed batch from a stream that said Hello as `sourceId`. */
export interface GroupedBatch {
  readonly sourceId: string;
  readonly sidecarId: string;
  readonly generation: string;
  readonly fileId: string;
  readonly epoch: number;
  readonly startOffset: number;
  readonly endOffset: number;
  readonly anchor: string;
  /** Creation time of the file (Unix ms), 0 when unknown. */
  readonly fileBirthMs: number;
  /** The file's path, symbolic links resolved; "" when not reported. */
  readonly filePath: string;
  /** Each series' rows, of metrics the store has registered (see Store.registerMetric). */
  readonly deltas: readonly SeriesDelta[];
  readonly rejected: ReadonlyArray<{ readonly reason: string; readonly count: number }>;
  /** When the batch arrived (Unix ms). */
  readonly nowMs: number;
}

/** The committed state a group is decided against. */
export interface CommittedView {
  /** Committed offset and creation time of a generation; undefined if it was never applied. */
  generation(sourceId: string, generation: string): { readonly committedOffset: number; readonly fileBirthMs: number; readonly filePath: string } | undefined;
  /** Highest epoch applied for a file of a source; 0 when none. */
  latestEpoch(sourceId: string, fileId: string): number;
  /** When the source's first batch was applied; undefined for a new source. */
  sourceCreatedMs(sourceId: string): number | undefined;
  /** Whether a series is counted already. */
  isCounted(metric: string, labels: readonly string[]): boolean;
  /** Distinct series of `metric` counted. */
  seriesCount(metric: string): number;
  /** Most series counted per metric. */
  readonly maxSeries: number;
}

/** What became of one batch of a group. */
export type GroupOutcome =
  | {
      readonly decision: "apply";
      /** The generation's committed offset after it: its end. */
      readonly committedOffset: number;
      /** Deltas of new series not counted because their metric's series limit is reached (rejected as series_limit). */
      readonly refusedBySeriesLimit: readonly SeriesDelta[];
    }
  | { readonly decision: Exclude<BatchDecision, "apply">; readonly committedOffset: number }
  /**
   * A generation that is neither known nor the next epoch of its file: no
   * Welcome named it, so the sender is confused or hostile. Nothing changes.
   */
  | { readonly decision: "unknown_generation" };

/** The state of one generation after the group. */
export interface GenerationWrite {
  readonly sourceId: string;
  readonly generation: string;
  readonly fileId: string;
  readonly epoch: number;
  readonly committedOffset: number;
  readonly anchor: string;
  readonly updatedMs: number;
  readonly fileBirthMs: number;
  readonly filePath: string;
}

/** The state of one source after the group. */
export interface SourceWrite {
  readonly sourceId: string;
  readonly createdMs: number;
  readonly latestGeneration: string;
  readonly lastSeenMs: number;
  readonly lastSidecarId: string;
}

/** Everything the applied batches of a group change, merged. */
export interface GroupWrites {
  /** Rows to add per series, keyed by seriesKey(), in the order series first appear. */
  readonly series: ReadonlyMap<string, SeriesDelta>;
  /** Series not counted before the group, by metric. */
  readonly newSeries: ReadonlyMap<string, number>;
  readonly generations: ReadonlyMap<string, GenerationWrite>;
  readonly sources: ReadonlyMap<string, SourceWrite>;
  /** Rows to add to the rejected counts, by reason (series_limit included). */
  readonly rejected: ReadonlyMap<RejectReason, number>;
  /** Rows counted by the group. */
  readonly countedRows: number;
}

/** A decided group: one outcome per batch, in order, and what to write. */
export interface DecidedGroup {
  readonly outcomes: readonly GroupOutcome[];
  readonly writes: GroupWrites;
}

const SERIES_LIMIT_REASON: RejectReason = "series_limit";

/** Key of a generation of a source in maps. */
export function generationKey(sourceId: string, name: string): string {
  return `${sourceId}\u0000${name}`;
}

/** Decides each batch of `group`, in order, against `view` and the batches before it. */
export function decideGroup(view: CommittedView, group: readonly GroupedBatch[]): DecidedGroup {
  const series = new Map<string, SeriesDelta & { count: number }>();
  const newSeries = new Map<string, number>();
  const generations = new Map<string, GenerationWrite>();
  const sources = new Map<string, SourceWrite>();
  const rejected = new Map<RejectReason, number>();
  const latestEpochs = new Map<string, number>();
  let countedRows = 0;
  const isCounted = (delta: SeriesDelta): boolean => view.isCounted(delta.metric, delta.labels) || series.has(seriesKey(delta.metric, delta.labels));
  const seriesCount = (metric: string): number => view.seriesCount(metric) + (newSeries.get(metric) ?? 0);
  const reject = (reason: RejectReason, count: number): void => {
    rejected.set(reason, (rejected.get(reason) ?? 0) + count);
  };

  const outcomes = group.map((batch): GroupOutcome => {
    const key = generationKey(batch.sourceId, batch.generation);
    const pending = generations.get(key);
    const committed = pending ?? view.generation(batch.sourceId, batch.generation);
    if (!committed) {
      // A generation becomes known through its first batch, which must be the
      // epoch right after the file's latest (see IngestService.welcome()).
      const fileKey = generationKey(batch.sourceId, batch.fileId);
      const latestEpoch = Math.max(latestEpochs.get(fileKey) ?? 0, view.latestEpoch(batch.sourceId, batch.fileId));
      if (batch.epoch !== latestEpoch + 1) return { decision: "unknown_generation" };
    }
    const committedOffset = committed?.committedOffset ?? 0;
    const decision = decideBatch(committedOffset, batch.startOffset, batch.endOffset);
    if (decision !== "apply") return { decision, committedOffset };

    const split = splitBySeriesLimit(batch.deltas, isCounted, seriesCount, view.maxSeries);
    for (const delta of split.counted) {
      const key = seriesKey(delta.metric, delta.labels);
      const merged = series.get(key);
      if (merged) merged.count += delta.count;
      else {
        if (!view.isCounted(delta.metric, delta.labels)) newSeries.set(delta.metric, (newSeries.get(delta.metric) ?? 0) + 1);
        series.set(key, { metric: delta.metric, labels: delta.labels, count: delta.count });
      }
      countedRows += delta.count;
    }
    for (const entry of batch.rejected) reject(normalizeRejectReason(entry.reason), entry.count);
    if (split.refusedRows > 0) reject(SERIES_LIMIT_REASON, split.refusedRows);
    generations.set(key, {
      sourceId: batch.sourceId,
      generation: batch.generation,
      fileId: batch.fileId,
      epoch: batch.epoch,
      committedOffset: batch.endOffset,
      anchor: batch.anchor,
      updatedMs: batch.nowMs,
      // The first creation time reported for a generation is kept.
      fileBirthMs: committed?.fileBirthMs || batch.fileBirthMs,
      // Where the generation is read now: a copytruncate copy read to its end reports its own path.
      filePath: batch.filePath || committed?.filePath || "",
    });
    const fileKey = generationKey(batch.sourceId, batch.fileId);
    if ((latestEpochs.get(fileKey) ?? 0) < batch.epoch) latestEpochs.set(fileKey, batch.epoch);
    sources.set(batch.sourceId, {
      sourceId: batch.sourceId,
      createdMs: sources.get(batch.sourceId)?.createdMs ?? view.sourceCreatedMs(batch.sourceId) ?? batch.nowMs,
      latestGeneration: batch.generation,
      lastSeenMs: batch.nowMs,
      lastSidecarId: batch.sidecarId,
    });
    return { decision: "apply", committedOffset: batch.endOffset, refusedBySeriesLimit: split.refused };
  });
  return { outcomes, writes: { series, newSeries, generations, sources, rejected, countedRows } };
}

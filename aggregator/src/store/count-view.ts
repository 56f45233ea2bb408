import { sameLabelNames, type RejectReason } from "@logtally/proto";
import { generationKey, type CommittedView, type GroupWrites } from "../ingest/batch-group";
import { seriesKey } from "../ingest/ledger";
import { DEFAULT_METRIC_DEFINITION, type MetricDefinition } from "../ingest/metric-registration";

/** Counted rows of one series: a metric and its label values, in the order of the metric's label names. */
export interface SeriesCount {
  readonly metric: string;
  readonly labels: readonly string[];
  count: number;
}

/** One metric as the view holds it: its definition, its series in the order first counted, its rows. */
export interface MetricCounts {
  readonly definition: MetricDefinition;
  /** Live objects, never removed (a count never goes away); callers must not modify them. */
  readonly series: ReadonlyArray<Readonly<SeriesCount>>;
  /** Rows counted over every series of the metric. */
  readonly rows: number;
}

interface MutableMetricCounts extends MetricCounts {
  readonly series: SeriesCount[];
  rows: number;
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
 * store verbatim: totals, never increments. A series' metric is among
 * `metrics` or already stored.
 */
export interface StateRows {
  readonly metrics: readonly MetricDefinition[];
  readonly series: readonly SeriesCount[];
  readonly generations: readonly GenerationState[];
  readonly sources: readonly SourceState[];
  readonly rejected: ReadonlyArray<readonly [RejectReason, number]>;
}

/** StateRows holding nothing. */
export const NO_ROWS: StateRows = Object.freeze({ metrics: [], series: [], generations: [], sources: [], rejected: [] });

/**
 * The committed state in memory, for the ledger's decisions and for every
 * read. It holds the state's rules: a group's writes become new totals here
 * ({@link next}), and the database stores those totals as they are, so no
 * rule is written twice, once in SQL and once in JavaScript.
 *
 * log_host_job_count is always defined, whatever the rows say.
 */
export class CountView implements CommittedView {
  private readonly metrics = new Map<string, MutableMetricCounts>();
  /** Every series of every metric, by seriesKey(). */
  private readonly series = new Map<string, SeriesCount>();
  private readonly generations = new Map<string, GenerationState>();
  private readonly latestEpochs = new Map<string, number>();
  private readonly sources = new Map<string, SourceState>();
  private readonly rejectedRows = new Map<RejectReason, number>();
  private countedRows = 0;

  constructor(
    rows: StateRows,
    /** Most series counted per metric. */
    readonly maxSeries: number,
  ) {
    this.define(DEFAULT_METRIC_DEFINITION);
    this.apply(rows);
  }

  /** The rows a group's writes lead to, from the state now; changes nothing until apply(). */
  next(writes: GroupWrites): StateRows {
    return {
      metrics: [],
      series: [...writes.series.entries()].map(([key, delta]) => ({
        metric: delta.metric,
        labels: delta.labels,
        count: (this.series.get(key)?.count ?? 0) + delta.count,
      })),
      generations: [...writes.generations.values()].map((generation) => ({ ...generation })),
      sources: [...writes.sources.values()].map((source) => ({ ...source })),
      rejected: [...writes.rejected].map(([reason, count]) => [reason, (this.rejectedRows.get(reason) ?? 0) + count] as const),
    };
  }

  /**
   * Takes `rows` as the committed state of what they cover; returns the
   * series whose counts they set, live. Throws on rows no store can hold:
   * a series of a metric never defined, a metric redefined with other labels.
   */
  apply(rows: StateRows): Array<Readonly<SeriesCount>> {
    for (const definition of rows.metrics) this.define(definition);
    // Checked before anything changes, so that the view never holds half of rows it refused.
    for (const row of rows.series) {
      if (!this.metrics.has(row.metric)) throw new Error(`a series of metric ${row.metric}, which is not defined`);
    }
    const changed: SeriesCount[] = [];
    for (const row of rows.series) {
      const key = seriesKey(row.metric, row.labels);
      let series = this.series.get(key);
      const metric = this.metrics.get(row.metric)!;
      const added = row.count - (series?.count ?? 0);
      this.countedRows += added;
      metric.rows += added;
      if (series) series.count = row.count;
      else {
        series = { metric: row.metric, labels: row.labels, count: row.count };
        this.series.set(key, series);
        metric.series.push(series);
      }
      changed.push(series);
    }
    for (const generation of rows.generations) this.rememberGeneration(generation);
    for (const source of rows.sources) this.sources.set(source.sourceId, { ...source });
    for (const [reason, count] of rows.rejected) this.rejectedRows.set(reason, count);
    return changed;
  }

  /**
   * Defines a metric the store holds (registered here or by another
   * aggregator); defining it again with the same labels changes nothing.
   */
  define(definition: MetricDefinition): void {
    const existing = this.metrics.get(definition.name);
    if (!existing) {
      this.metrics.set(definition.name, { definition: { ...definition, labelNames: [...definition.labelNames] }, series: [], rows: 0 });
      return;
    }
    if (!sameLabelNames(existing.definition.labelNames, definition.labelNames) || existing.definition.kind !== definition.kind) {
      throw new Error(`metric ${definition.name} is defined twice, with other labels or kind`);
    }
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

  /** Whether a series is counted. */
  isCounted(metric: string, labels: readonly string[]): boolean {
    return this.series.has(seriesKey(metric, labels));
  }

  /** The series of `metric` with these label values, live; undefined when it is not counted. */
  seriesOf(metric: string, labels: readonly string[]): Readonly<SeriesCount> | undefined {
    return this.series.get(seriesKey(metric, labels));
  }

  /** Distinct series of `metric` counted; 0 for a metric not defined. */
  seriesCount(metric: string): number {
    return this.metrics.get(metric)?.series.length ?? 0;
  }

  /** Distinct series counted, over every metric. */
  totalSeries(): number {
    return this.series.size;
  }

  /** A metric's definition and series, live; undefined when it is not defined. */
  metric(name: string): MetricCounts | undefined {
    return this.metrics.get(name);
  }

  /** Every metric, log_host_job_count first, then in the order defined; live. */
  allMetrics(): Iterable<MetricCounts> {
    return this.metrics.values();
  }

  /** Records that a source was heard from without a durable change (not persisted). */
  touchSource(sourceId: string, sidecarId: string, nowMs: number): void {
    const source = this.sources.get(sourceId);
    if (!source) return;
    source.lastSeenMs = nowMs;
    source.lastSidecarId = sidecarId;
  }

  /** Rows counted in total, over every series of every metric. */
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
      metrics: [...this.metrics.values()].map(({ definition }) => ({ ...definition, labelNames: [...definition.labelNames] })),
      series: [...this.series.values()].map((series) => ({ ...series })),
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

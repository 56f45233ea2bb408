import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { CountExposition } from "./count-exposition";
import type { SourceActivity } from "../ingest/source-activity";
import { lagBytes } from "../query/source-status";
import type { Store } from "../store/store";

/** Why a call was refused as unauthenticated, as counted by `logtally_auth_failures_total`. */
export type AuthFailureReason = "missing_token" | "malformed_token" | "wrong_token";

/** Outcomes a batch can have, as counted by `logtally_batches_total`. */
export type BatchOutcomeLabel = "applied" | "duplicate" | "out_of_order";

/**
 * The aggregator's metrics: the counted metrics (`log_host_job_count` and
 * those of counting specs), rendered by their own exposition, and the `logtally_*` metrics in their own registry. Values held
 * by the store (counts, offsets) are read at scrape time, so a scrape always
 * shows committed state and nothing is pushed from timers.
 */
export class AggregatorMetrics {
  readonly registry = new Registry();
  private readonly counts = new CountExposition();
  readonly batches: Counter<"outcome">;
  readonly ingestErrors: Counter<"code">;
  readonly commitSeconds: Histogram<never>;
  readonly commitGroupBatches: Histogram<never>;
  readonly connectedSidecars: Gauge<never>;
  /** 1 while the state can be written, 0 while commits fail (see WriteHealth). */
  readonly stateWritable: Gauge<"condition">;
  readonly authFailures: Counter<"service" | "reason">;

  constructor(
    private readonly store: Store,
    activity: SourceActivity,
  ) {
    const registers = [this.registry];
    const definitionOf = (metric: string) => store.view.metric(metric)?.definition;
    for (const metric of store.view.allMetrics()) this.counts.prepare(metric.series, definitionOf);
    store.onCommit(({ changed }) => this.counts.prepare(changed, definitionOf));
    new Counter({
      name: "logtally_rows_counted_total",
      help: "Rows counted into every metric since the state directory was created.",
      registers,
      collect() {
        this.reset();
        this.inc(store.view.totalCounted());
      },
    });
    new Counter({
      name: "logtally_rows_rejected_total",
      help: "Rows the sidecars read but did not count, by reason, since the state directory was created.",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of store.view.rejectedByReason()) this.inc({ reason }, count);
      },
    });
    new Gauge({
      name: "logtally_series",
      help: "Distinct series of each metric counted (the (host, job_name) pairs of log_host_job_count).",
      labelNames: ["metric"],
      registers,
      collect() {
        this.reset();
        for (const { definition, series } of store.view.allMetrics()) this.set({ metric: definition.name }, series.length);
      },
    });
    new Gauge({
      name: "logtally_series_limit",
      help: "Most series counted per metric (--max-series); rows of new series beyond it are rejected as series_limit.",
      labelNames: ["metric"],
      registers,
      collect() {
        this.reset();
        for (const { definition } of store.view.allMetrics()) this.set({ metric: definition.name }, store.view.maxSeries);
      },
    });
    new Gauge({
      name: "logtally_source_committed_offset_bytes",
      help: "Committed byte offset of the most recently advanced file generation of each source.",
      labelNames: ["source_id"],
      registers,
      collect() {
        this.reset();
        for (const source of store.view.allSources().values()) {
          const generation = store.view.generation(source.sourceId, source.latestGeneration);
          if (generation) this.set({ source_id: source.sourceId }, generation.committedOffset);
        }
      },
    });
    new Gauge({
      name: "logtally_source_last_seen_timestamp_seconds",
      help: "Unix time a batch of each source was last received.",
      labelNames: ["source_id"],
      registers,
      collect() {
        this.reset();
        for (const source of store.view.allSources().values()) this.set({ source_id: source.sourceId }, source.lastSeenMs / 1000);
      },
    });
    new Gauge({
      name: "logtally_source_lag_bytes",
      help: "Bytes of the file each source's sidecar ships that are not counted yet, as of its latest report (sources that reported a size).",
      labelNames: ["source_id"],
      registers,
      collect() {
        this.reset();
        for (const live of activity.all()) {
          const lag = lagBytes(store, live);
          if (lag !== undefined) this.set({ source_id: live.sourceId }, lag);
        }
      },
    });
    this.batches = new Counter({
      name: "logtally_batches_total",
      help: "Delta batches received since start, by outcome: applied, duplicate (already counted), out_of_order (refused).",
      labelNames: ["outcome"],
      registers,
    });
    for (const outcome of ["applied", "duplicate", "out_of_order"] satisfies BatchOutcomeLabel[]) this.batches.inc({ outcome }, 0);
    this.ingestErrors = new Counter({
      name: "logtally_ingest_errors_total",
      help: "Ingest streams ended with an error status, by gRPC status code name.",
      labelNames: ["code"],
      registers,
    });
    this.commitSeconds = new Histogram({
      name: "logtally_batch_commit_seconds",
      help: "Time to commit one group of batches durably (one transaction; see logtally_commit_group_batches).",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.commitGroupBatches = new Histogram({
      name: "logtally_commit_group_batches",
      help: "Batches decided together in one group commit, from however many streams.",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.stateWritable = new Gauge({
      name: "logtally_state_writable",
      help:
        "1 while the state can be written; 0 while commits fail, labelled with why (read-only, disk full, I/O error, " +
        "unreachable, not answering): the aggregator is not ready and counts nothing meanwhile.",
      labelNames: ["condition"],
      registers,
    });
    this.connectedSidecars = new Gauge({
      name: "logtally_connected_sidecars",
      help: "Ingest streams open now.",
      registers,
    });
    this.authFailures = new Counter({
      name: "logtally_auth_failures_total",
      help: "Calls refused with UNAUTHENTICATED since start, by service and reason: missing_token, malformed_token, wrong_token.",
      labelNames: ["service", "reason"],
      registers,
    });
  }

  /** Renders the Prometheus text exposition. */
  async render(): Promise<Buffer> {
    return Buffer.concat([this.counts.render(this.store.view.allMetrics()), Buffer.from(await this.registry.metrics())]);
  }
}

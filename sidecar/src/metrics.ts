import { Counter, Gauge, Registry } from "prom-client";
import { emptyTally, type LineTally } from "./batch/delta-batcher";

/**
 * The sidecar's own pipeline metrics. Deliberately no per-series counts: only
 * the aggregator exposes the counted metric, so a scrape that reaches a
 * sidecar can never double a number.
 */
export class SidecarMetrics {
  readonly registry = new Registry();
  /** Lines parsed, read at scrape time. */
  readonly tally: LineTally = emptyTally();
  readonly bytesRead: Counter<never>;
  readonly batches: Counter<"outcome">;
  readonly reconnects: Counter<never>;
  readonly generations: Counter<"reason">;
  readonly committedOffset: Gauge<never>;
  readonly fileSize: Gauge<never>;
  readonly connected: Gauge<never>;

  constructor() {
    const registers = [this.registry];
    const tally = this.tally;
    new Counter({
      name: "logtally_sidecar_rows_total",
      help: "Complete lines parsed, by outcome: counted (shipped as deltas), skipped (blank or header), filtered (not matching --where), rejected.",
      labelNames: ["outcome"],
      registers,
      collect() {
        this.reset();
        let rejected = 0;
        for (const count of tally.rejected.values()) rejected += count;
        this.inc({ outcome: "counted" }, tally.counted);
        this.inc({ outcome: "skipped" }, tally.skipped);
        this.inc({ outcome: "filtered" }, tally.filtered);
        this.inc({ outcome: "rejected" }, rejected);
      },
    });
    new Counter({
      name: "logtally_sidecar_rows_rejected_total",
      help: "Lines not counted, by reason.",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of tally.rejected) this.inc({ reason }, count);
      },
    });
    new Counter({
      name: "logtally_sidecar_rows_filtered_total",
      help: "Lines neither counted nor rejected because they do not match every --where.",
      registers,
      collect() {
        this.reset();
        this.inc(tally.filtered);
      },
    });
    this.bytesRead = new Counter({ name: "logtally_sidecar_read_bytes_total", help: "Bytes read from log files.", registers });
    this.batches = new Counter({
      name: "logtally_sidecar_batches_total",
      help: "Batches acknowledged by the aggregator, by outcome: applied, duplicate, out_of_order.",
      labelNames: ["outcome"],
      registers,
    });
    this.reconnects = new Counter({
      name: "logtally_sidecar_reconnects_total",
      help: "Times the stream to the aggregator was lost and re-opened.",
      registers,
    });
    this.generations = new Counter({
      name: "logtally_sidecar_generations_total",
      help: "File generations started, by reason: start, rotated, rewritten (truncated or replaced in place).",
      labelNames: ["reason"],
      registers,
    });
    this.committedOffset = new Gauge({
      name: "logtally_sidecar_committed_offset_bytes",
      help: "The aggregator's committed offset in the file being shipped.",
      registers,
    });
    this.fileSize = new Gauge({
      name: "logtally_sidecar_file_size_bytes",
      help: "Size of the file being shipped, as last seen at its end.",
      registers,
    });
    this.connected = new Gauge({
      name: "logtally_sidecar_connected",
      help: "1 while a stream to the aggregator is open and answered.",
      registers,
    });
  }
}

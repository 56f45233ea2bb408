import { status, type ServiceError } from "@grpc/grpc-js";
import { DEFAULT_METRIC, type WatchCountsResponse } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import { selectSeries, seriesMatches, type CountFilter, type SeriesSelection } from "./count-filter";
import { MAX_PAGE_SIZE, countsMessageFields, pageOfCounts, type PagedSeries } from "./count-pages";
import { StatusError } from "../errors";
import type { SeriesIndexes } from "./series-indexes";
import type { CommittedChange, Store } from "../store/store";
import type { SeriesCount } from "../store/count-view";

/** What a watcher needs of its server-streaming call; grpc-js's ServerWritableStream provides it. */
export interface WatchCall {
  /** Queues a message; `flushed` runs once the transport has taken it. */
  write(message: WatchCountsResponse, flushed: (error?: Error | null) => void): boolean;
  /** Emitting "error" ends the call with that status once what was written is sent. */
  emit(event: "error", error: ServiceError): boolean;
  on(event: "cancelled", listener: () => void): unknown;
  getPeer(): string;
}

type WatcherState = { readonly state: "streaming" } | { readonly state: "ended"; readonly code: status };

interface Outgoing {
  readonly message: WatchCountsResponse;
  /** Bytes counted against the bound: 0 for snapshot messages. */
  readonly changeBytes: number;
}

/**
 * The WatchCounts streams. Each watcher gets its snapshot and then, for every
 * committed batch, the new totals of the series it selects. A watch of a
 * metric not counted yet gets an empty snapshot, then the series of the
 * metric once a sidecar counts it. The snapshot is
 * taken in the same turn the watcher starts listening, and commits happen one
 * at a time on the same thread, so no change falls between the two and none
 * is sent twice.
 *
 * Each watcher hands one message at a time to its call and queues the rest.
 * Changes queued beyond `maxBufferedBytes` mean the client does not keep up:
 * the queue is dropped and the call ends with RESOURCE_EXHAUSTED (once the
 * message already handed over is read), so a slow client costs a bounded
 * amount of memory. The snapshot is not counted against the bound: its size
 * is the number of series, bounded elsewhere.
 */
export class CountWatchHub {
  private readonly watchers = new Set<Watcher>();
  private lifecycle: { readonly state: "open" } | { readonly state: "closed"; readonly reason: string } = { state: "open" };
  private readonly unsubscribe: () => void;

  constructor(
    store: Store,
    private readonly indexes: SeriesIndexes,
    private readonly maxBufferedBytes: number,
    private readonly log: Logger,
  ) {
    this.unsubscribe = store.onCommit((change) => this.committed(change));
  }

  /** Watchers streaming now. */
  get size(): number {
    return this.watchers.size;
  }

  /** Starts streaming to `call`: the snapshot now, changes as they commit. */
  watch(call: WatchCall, filter: CountFilter): void {
    if (this.lifecycle.state === "closed") {
      call.emit("error", serviceError(status.UNAVAILABLE, this.lifecycle.reason));
      return;
    }
    const watcher = new Watcher(call, filter, this.indexes, this.maxBufferedBytes, (ended) => {
      this.watchers.delete(watcher);
      if (ended.code === status.RESOURCE_EXHAUSTED) {
        this.log.warn({ peer: call.getPeer(), maxBufferedBytes: this.maxBufferedBytes }, "watcher too slow: stream ended");
      }
    });
    this.watchers.add(watcher);
    call.on("cancelled", () => watcher.cancelled());
    const labelNames = this.indexes.labelNames(filter.metric) ?? [];
    const selection = selectSeries(filter, labelNames);
    let pageToken = "";
    do {
      const page = pageOfCounts(this.indexes.sorted(filter.metric), selection, labelNames.length, { pageSize: MAX_PAGE_SIZE, pageToken });
      pageToken = page.nextPageToken;
      watcher.send({ ...countsMessageFields(filter.metric, labelNames, page.series), kind: "SNAPSHOT", snapshotComplete: pageToken === "" }, 0);
    } while (pageToken !== "" && this.watchers.has(watcher));
  }

  /** Ends every watcher with UNAVAILABLE and refuses new ones: the aggregator is stopping. Idempotent. */
  closeAll(reason: string): void {
    if (this.lifecycle.state === "closed") return;
    this.lifecycle = { state: "closed", reason };
    this.unsubscribe();
    for (const watcher of [...this.watchers]) watcher.end(status.UNAVAILABLE, reason);
  }

  private committed(change: CommittedChange): void {
    for (const watcher of [...this.watchers]) watcher.offer(change.changed);
  }
}

/** One WatchCounts stream. */
class Watcher {
  private lifecycle: WatcherState = { state: "streaming" };
  private readonly outbox: Outgoing[] = [];
  private handedOver = false;
  /** Bytes of changes queued or handed over and not yet flushed. */
  private pendingChangeBytes = 0;
  /** The filter applied to its metric's labels, once the metric is defined. */
  private selection: { readonly labelNames: readonly string[]; readonly selection: SeriesSelection } | undefined;

  constructor(
    private readonly call: WatchCall,
    private readonly filter: CountFilter,
    private readonly indexes: SeriesIndexes,
    private readonly maxBufferedBytes: number,
    private readonly onEnded: (ended: { code: status }) => void,
  ) {}

  /** Queues the changed series this watcher selects, copied at their current totals. */
  offer(changed: ReadonlyArray<Readonly<SeriesCount>>): void {
    if (this.lifecycle.state !== "streaming") return;
    const { metric } = this.filter;
    const series: PagedSeries[] = [];
    let bytes = 0;
    for (const one of changed) {
      if (one.metric !== metric) continue;
      this.selection ??= this.select();
      if (!this.selection || !seriesMatches(this.selection.selection, one.labels)) continue;
      series.push({ labels: one.labels, count: one.count });
      bytes += approximateBytes(one);
    }
    if (series.length === 0) return;
    // One message is always let through, however large: the bound is on
    // what piles up behind it.
    if (this.pendingChangeBytes > 0 && this.pendingChangeBytes + bytes > this.maxBufferedBytes) {
      this.end(status.RESOURCE_EXHAUSTED, `watcher fell more than ${this.maxBufferedBytes} bytes of changes behind; watch again`);
      return;
    }
    this.send({ ...countsMessageFields(metric, this.selection!.labelNames, series), kind: "CHANGE", snapshotComplete: false }, bytes);
  }

  private select(): { labelNames: readonly string[]; selection: SeriesSelection } | undefined {
    const labelNames = this.indexes.labelNames(this.filter.metric);
    return labelNames && { labelNames, selection: selectSeries(this.filter, labelNames) };
  }

  /** Queues a message and hands it over when the one before it is flushed. */
  send(message: WatchCountsResponse, changeBytes: number): void {
    if (this.lifecycle.state !== "streaming") return;
    this.outbox.push({ message, changeBytes });
    this.pendingChangeBytes += changeBytes;
    this.pump();
  }

  /** Drops what is queued and ends the call with `code`. */
  end(code: status, details: string): void {
    if (this.lifecycle.state !== "streaming") return;
    this.lifecycle = { state: "ended", code };
    this.outbox.length = 0;
    this.onEnded({ code });
    this.call.emit("error", serviceError(code, details));
  }

  /** The client went away. */
  cancelled(): void {
    if (this.lifecycle.state !== "streaming") return;
    this.lifecycle = { state: "ended", code: status.CANCELLED };
    this.outbox.length = 0;
    this.onEnded({ code: status.CANCELLED });
  }

  private pump(): void {
    if (this.handedOver || this.lifecycle.state !== "streaming") return;
    const next = this.outbox.shift();
    if (!next) return;
    this.handedOver = true;
    this.call.write(next.message, (error) => {
      this.handedOver = false;
      this.pendingChangeBytes -= next.changeBytes;
      if (error) this.cancelled();
      else this.pump();
    });
  }
}

/**
 * A series' share of a message, roughly: its label values and the count's
 * framing; a series not a pair also carries its metric and label names.
 */
function approximateBytes(series: Readonly<SeriesCount>): number {
  let bytes = series.metric === DEFAULT_METRIC ? 24 : 24 + series.metric.length + 24 * series.labels.length;
  for (const value of series.labels) bytes += value.length;
  return bytes;
}

function serviceError(code: status, details: string): ServiceError {
  return new StatusError(code, details).toServiceError();
}

import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from "@grpc/grpc-js";
import type {
  GetCountsRequest__Output,
  GetCountsResponse,
  ListMetricsRequest__Output,
  ListMetricsResponse,
  ListSourcesRequest__Output,
  ListSourcesResponse,
  QueryHandlers,
  WatchCountsRequest__Output,
  WatchCountsResponse,
} from "@logtally/proto";
import { exposedName } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import { parseCountFilter, selectSeries } from "./count-filter";
import { countsMessageFields, pageOfCounts } from "./count-pages";
import { CountWatchHub } from "./count-watch";
import { StatusError } from "../errors";
import { SeriesIndexes } from "./series-indexes";
import type { SourceActivity } from "../ingest/source-activity";
import { describeSources } from "./source-status";
import type { Store } from "../store/store";

/** Settings of the Query service. */
export interface QueryServiceOptions {
  /** Bound on the changes queued for one WatchCounts stream, in bytes. */
  readonly watchBufferBytes: number;
}

/**
 * The read-only Query service. It reads the store's in-memory view, which
 * only ever holds committed state, and the live view of the sources.
 */
export class QueryService {
  private readonly indexes: SeriesIndexes;
  private readonly watchHub: CountWatchHub;

  constructor(
    private readonly store: Store,
    private readonly activity: SourceActivity,
    options: QueryServiceOptions,
    private readonly log: Logger,
  ) {
    this.indexes = new SeriesIndexes(store.view);
    // Subscribed before the hub, so a watcher's snapshot already holds a series its batch created.
    store.onCommit(({ changed }) => {
      for (const series of changed) this.indexes.add(series);
    });
    this.watchHub = new CountWatchHub(store, this.indexes, options.watchBufferBytes, log);
  }

  /** grpc-js handlers for `logtally.v1.Query`. */
  handlers(): QueryHandlers {
    return {
      GetCounts: (call, callback) => this.answer(call, callback, (request) => this.getCounts(request)),
      ListSources: (call, callback) => this.answer(call, callback, (request) => this.listSources(request)),
      WatchCounts: (call) => this.watchCounts(call),
      ListMetrics: (call, callback) => this.answer(call, callback, (request) => this.listMetrics(request)),
    };
  }

  /**
   * One page of the series of one metric matching the filter, sorted by
   * label values (host, then job name). No metric named is
   * log_host_job_count, whose pairs come in `counts` as they always did; a
   * metric not counted (yet) has no series.
   */
  getCounts(request: GetCountsRequest__Output): GetCountsResponse {
    const filter = parseCountFilter(request);
    const labelNames = this.indexes.labelNames(filter.metric) ?? [];
    const page = pageOfCounts(this.indexes.sorted(filter.metric), selectSeries(filter, labelNames), labelNames.length, request);
    return { ...countsMessageFields(filter.metric, labelNames, page.series), nextPageToken: page.nextPageToken, totalSize: page.totalSize };
  }

  /** Every source, sorted by source id. */
  listSources(_request: ListSourcesRequest__Output): ListSourcesResponse {
    return {
      sources: describeSources(this.store, this.activity).map((view) => ({
        sourceId: view.sourceId,
        generation: view.generation,
        fileId: view.fileId,
        committedOffset: view.committedOffset,
        lastSeenUnixMillis: view.lastSeenMs,
        generations: view.generations,
        connectedSidecars: view.connectedSidecarIds.length,
        lastSidecarId: view.lastSidecarId,
        fileSize: view.fileSizeBytes,
        fileSizeGeneration: view.fileSizeGeneration,
        lagBytes: view.lagBytes ?? 0,
        lastHeartbeatUnixMillis: view.lastHeartbeatMs,
        connectedSidecarIds: view.connectedSidecarIds,
      })),
    };
  }

  /** Every metric counted, sorted by name. */
  listMetrics(_request: ListMetricsRequest__Output): ListMetricsResponse {
    const { view } = this.store;
    return {
      metrics: [...view.allMetrics()]
        .map(({ definition, series, rows }) => ({
          name: definition.name,
          labelNames: [...definition.labelNames],
          exposedAs: exposedName(definition.name),
          type: definition.kind,
          series: series.length,
          maxSeries: view.maxSeries,
          rows,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    };
  }

  /** Ends every WatchCounts stream with UNAVAILABLE and refuses new ones. Idempotent. */
  stop(reason: string): void {
    this.watchHub.closeAll(reason);
  }

  private watchCounts(call: ServerWritableStream<WatchCountsRequest__Output, WatchCountsResponse>): void {
    try {
      this.watchHub.watch(call, parseCountFilter(call.request));
    } catch (error) {
      call.emit("error", this.failed(error));
    }
  }

  private answer<Request, Response>(call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>, method: (request: Request) => Response): void {
    try {
      callback(null, method(call.request));
    } catch (error) {
      callback(this.failed(error));
    }
  }

  /** The status a failed call ends with; a defect is logged with its cause, which the client never sees. */
  private failed(error: unknown): ServiceError {
    const statusError = StatusError.from(error);
    if (statusError.code === status.INTERNAL) this.log.error(statusError.logFields(), "query failed");
    return statusError.toServiceError();
  }
}

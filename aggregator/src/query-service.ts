import { status, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { checkLabel } from "@logtally/proto";
import type {
  GetCountsRequest__Output,
  GetCountsResponse,
  ListSourcesRequest__Output,
  ListSourcesResponse,
  PairCount,
  QueryHandlers,
} from "@logtally/proto";
import { IngestError, toServiceError } from "./errors";
import type { SourceActivity } from "./source-activity";
import { describeSources } from "./source-status";
import type { CountStore } from "./store";

/**
 * The read-only Query service. It reads the store's in-memory view, which
 * only ever holds committed state, and the live view of the sources.
 */
export class QueryService {
  constructor(
    private readonly store: CountStore,
    private readonly activity: SourceActivity,
  ) {}

  /** grpc-js handlers for `logtally.v1.Query`. */
  handlers(): QueryHandlers {
    return {
      GetCounts: (call, callback) => answer(call, callback, (request) => this.getCounts(request)),
      ListSources: (call, callback) => answer(call, callback, (request) => this.listSources(request)),
    };
  }

  /** Counts matching the filter, sorted by host then job name. */
  getCounts(request: GetCountsRequest__Output): GetCountsResponse {
    for (const [name, value] of [["host", request.host], ["job_name", request.jobName]] as const) {
      const problem = value === "" ? undefined : checkLabel(value);
      if (problem) throw new IngestError(status.INVALID_ARGUMENT, `${name} filter is not a valid label: ${problem}`);
    }
    const counts: PairCount[] = [];
    for (const pair of this.store.allCounts().values()) {
      if (request.host && pair.host !== request.host) continue;
      if (request.jobName && pair.jobName !== request.jobName) continue;
      counts.push({ host: pair.host, jobName: pair.jobName, count: pair.count });
    }
    counts.sort((a, b) => compare(a.host!, b.host!) || compare(a.jobName!, b.jobName!));
    return { counts };
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
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function answer<Request, Response>(
  call: ServerUnaryCall<Request, Response>,
  callback: sendUnaryData<Response>,
  method: (request: Request) => Response,
): void {
  try {
    callback(null, method(call.request));
  } catch (error) {
    callback(toServiceError(error));
  }
}

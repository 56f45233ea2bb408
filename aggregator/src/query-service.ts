import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type {
  GetCountsRequest__Output,
  GetCountsResponse,
  ListSourcesRequest__Output,
  ListSourcesResponse,
  QueryHandlers,
} from "@logtally/proto";
import { parseCountFilter } from "./count-filter";
import { pageOfCounts } from "./count-pages";
import { toServiceError } from "./errors";
import { SortedCounts } from "./sorted-counts";
import type { SourceActivity } from "./source-activity";
import { describeSources } from "./source-status";
import type { CountStore } from "./store";

/**
 * The read-only Query service. It reads the store's in-memory view, which
 * only ever holds committed state, and the live view of the sources.
 */
export class QueryService {
  private readonly index: SortedCounts;

  constructor(
    private readonly store: CountStore,
    private readonly activity: SourceActivity,
  ) {
    this.index = new SortedCounts(store.allCounts().values());
    store.onCommit(({ changed }) => {
      for (const pair of changed) this.index.add(pair);
    });
  }

  /** grpc-js handlers for `logtally.v1.Query`. */
  handlers(): QueryHandlers {
    return {
      GetCounts: (call, callback) => answer(call, callback, (request) => this.getCounts(request)),
      ListSources: (call, callback) => answer(call, callback, (request) => this.listSources(request)),
    };
  }

  /** One page of the counts matching the filter, sorted by host then job name. */
  getCounts(request: GetCountsRequest__Output): GetCountsResponse {
    return pageOfCounts(this.index, parseCountFilter(request), request);
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

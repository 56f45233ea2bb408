import { status, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { checkLabel } from "@logtally/proto";
import type {
  GetCountsRequest__Output,
  GetCountsResponse,
  ListSourcesRequest__Output,
  ListSourcesResponse,
  PairCount,
  QueryHandlers,
  SourceStatus,
} from "@logtally/proto";
import { IngestError, toServiceError } from "./errors";
import type { CountStore } from "./store";

/**
 * The read-only Query service. It reads the store's in-memory view, which
 * only ever holds committed state.
 */
export class QueryService {
  constructor(
    private readonly store: CountStore,
    private readonly connectedBySource: () => ReadonlyMap<string, number>,
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

  /** Every source with its most recently advanced generation, sorted by source id. */
  listSources(_request: ListSourcesRequest__Output): ListSourcesResponse {
    const generationsBySource = new Map<string, number>();
    for (const generation of this.store.allGenerations()) {
      generationsBySource.set(generation.sourceId, (generationsBySource.get(generation.sourceId) ?? 0) + 1);
    }
    const connected = this.connectedBySource();
    const sources: SourceStatus[] = [];
    for (const source of this.store.allSources().values()) {
      const latest = this.store.generation(source.sourceId, source.latestGeneration);
      sources.push({
        sourceId: source.sourceId,
        generation: source.latestGeneration,
        fileId: latest?.fileId ?? "",
        committedOffset: latest?.committedOffset ?? 0,
        lastSeenUnixMillis: source.lastSeenMs,
        generations: generationsBySource.get(source.sourceId) ?? 0,
        connectedSidecars: connected.get(source.sourceId) ?? 0,
        lastSidecarId: source.lastSidecarId,
      });
    }
    sources.sort((a, b) => compare(a.sourceId!, b.sourceId!));
    return { sources };
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

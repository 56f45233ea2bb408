import * as grpc from "@grpc/grpc-js";
import {
  loadLogtallyGrpc,
  type GetCountsRequest,
  type GetCountsResponse__Output,
  type PairCount__Output,
  type QueryClient,
  type SourceStatus__Output,
} from "@logtally/proto";
import { countsOf, scrape } from "./metrics";
import { fileSize } from "./log-writer";
import { waitFor } from "./wait";

/** A Query client for tests, with promise methods. */
export class QueryProbe {
  private readonly client: QueryClient;

  constructor(address: string) {
    const { Query } = loadLogtallyGrpc().logtally.v1;
    this.client = new Query(address, grpc.credentials.createInsecure());
  }

  listSources(): Promise<SourceStatus__Output[]> {
    return new Promise((resolve, reject) =>
      this.client.ListSources({}, (error, response) => (error ? reject(error) : resolve(response!.sources))),
    );
  }

  /** One GetCounts call: a page. */
  getCountsPage(request: GetCountsRequest = {}): Promise<GetCountsResponse__Output> {
    return new Promise((resolve, reject) => this.client.GetCounts(request, (error, response) => (error ? reject(error) : resolve(response!))));
  }

  /** Every count matching the filter, walking all pages. */
  async getCounts(filter: Omit<GetCountsRequest, "pageToken"> = {}): Promise<PairCount__Output[]> {
    const counts: PairCount__Output[] = [];
    let pageToken = "";
    do {
      const page = await this.getCountsPage({ ...filter, pageToken });
      counts.push(...page.counts);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return counts;
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Waits until, for every source, the aggregator's committed offset equals the
 * size of the file it ships: everything written has been counted.
 */
export async function waitUntilSettled(aggregatorAddress: string, filesBySource: Record<string, string>, timeoutMs = 60_000): Promise<void> {
  const probe = new QueryProbe(aggregatorAddress);
  let last = "";
  try {
    await waitFor(
      async () => {
        const sources = await probe.listSources();
        const offsets = Object.fromEntries(sources.map((source) => [source.sourceId, Number(source.committedOffset)]));
        const sizes = Object.fromEntries(Object.entries(filesBySource).map(([source, file]) => [source, fileSize(file)]));
        last = JSON.stringify({ offsets, sizes });
        return Object.keys(sizes).every((source) => offsets[source] === sizes[source]) ? true : undefined;
      },
      { timeoutMs, describe: () => `committed offsets to reach the file sizes (last: ${last})` },
    );
  } finally {
    probe.close();
  }
}

/** The aggregator's log_host_job_count series, sorted, as "host|job" → count. */
export async function aggregatorCounts(metricsUrl: string): Promise<Map<string, number>> {
  return countsOf(await scrape(metricsUrl));
}

/** Sorts a count map for deep-equal comparisons. */
export function sorted(counts: ReadonlyMap<string, number>): Array<[string, number]> {
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

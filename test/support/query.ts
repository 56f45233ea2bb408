import * as grpc from "@grpc/grpc-js";
import {
  loadLogtallyGrpc,
  type GetCountsRequest,
  type GetCountsResponse__Output,
  type MetricStatus__Output,
  type PairCount__Output,
  type QueryClient,
  type SeriesCount__Output,
  type SourceStatus__Output,
  type WatchCountsRequest,
  type WatchCountsResponse__Output,
} from "@logtally/proto";
import { countsOf, scrape } from "./metrics";
import { fileSize } from "./log-writer";
import { waitFor } from "./wait";

/** How a test client reaches the aggregator: plaintext and without metadata unless given. */
export interface ClientAccess {
  readonly credentials?: grpc.ChannelCredentials;
  readonly options?: grpc.ChannelOptions;
  /** Sent with every call (a bearer token, say). */
  readonly metadata?: grpc.Metadata;
}

/** A Query client for tests, with promise methods. */
export class QueryProbe {
  private readonly client: QueryClient;
  private readonly metadata: grpc.Metadata;

  constructor(address: string, access: ClientAccess = {}) {
    const { Query } = loadLogtallyGrpc().logtally.v1;
    this.client = new Query(address, access.credentials ?? grpc.credentials.createInsecure(), access.options);
    this.metadata = access.metadata ?? new grpc.Metadata();
  }

  listSources(): Promise<SourceStatus__Output[]> {
    return new Promise((resolve, reject) =>
      this.client.ListSources({}, this.metadata, (error, response) => (error ? reject(error) : resolve(response!.sources))),
    );
  }

  /** One GetCounts call: a page. */
  getCountsPage(request: GetCountsRequest = {}): Promise<GetCountsResponse__Output> {
    return new Promise((resolve, reject) => this.client.GetCounts(request, this.metadata, (error, response) => (error ? reject(error) : resolve(response!))));
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

  /** Every series of a metric other than log_host_job_count matching the filter, walking all pages. */
  async getSeries(filter: Omit<GetCountsRequest, "pageToken">): Promise<SeriesCount__Output[]> {
    const series: SeriesCount__Output[] = [];
    let pageToken = "";
    do {
      const page = await this.getCountsPage({ ...filter, pageToken });
      series.push(...page.series);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return series;
  }

  listMetrics(): Promise<MetricStatus__Output[]> {
    return new Promise((resolve, reject) =>
      this.client.ListMetrics({}, this.metadata, (error, response) => (error ? reject(error) : resolve(response!.metrics))),
    );
  }

  /** Opens a WatchCounts stream. */
  watchCounts(request: WatchCountsRequest = {}): CountWatch {
    return new CountWatch(this.client.WatchCounts(request, this.metadata));
  }

  close(): void {
    this.client.close();
  }
}

/** A WatchCounts stream from the client side: its messages in order, and how it ended. */
export class CountWatch {
  /** How the stream ended. */
  readonly status: Promise<grpc.StatusObject>;
  private readonly messages: WatchCountsResponse__Output[] = [];
  private readonly waiters: Array<() => void> = [];
  private read = 0;

  constructor(private readonly call: grpc.ClientReadableStream<WatchCountsResponse__Output>) {
    call.on("data", (message: WatchCountsResponse__Output) => {
      this.messages.push(message);
      for (const wake of this.waiters.splice(0)) wake();
    });
    // A non-OK status also arrives as an "error"; the status event carries it.
    call.on("error", () => undefined);
    this.status = new Promise((resolve) => call.on("status", resolve));
  }

  /** The next message; rejects if the stream ends first or nothing comes within `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<WatchCountsResponse__Output> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = this.messages[this.read];
      if (message) {
        this.read++;
        return message;
      }
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`no WatchCounts message within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        new Promise<undefined>((resolve) => this.waiters.push(() => resolve(undefined))),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), remainingMs))),
        this.status,
      ]);
      clearTimeout(timer);
      if (ended && this.read >= this.messages.length) {
        throw new Error(`WatchCounts ended with ${grpc.status[ended.code]} "${ended.details}" instead of sending a message`);
      }
    }
  }

  /** Reads messages up to and including the one that completes the snapshot; returns their counts. */
  async snapshot(): Promise<PairCount__Output[]> {
    const counts: PairCount__Output[] = [];
    for (;;) {
      const message = await this.next();
      if (message.kind !== "SNAPSHOT") throw new Error(`expected a SNAPSHOT message, got ${JSON.stringify(message)}`);
      counts.push(...message.counts);
      if (message.snapshotComplete) return counts;
    }
  }

  /** Messages received and not yet read. */
  get unread(): number {
    return this.messages.length - this.read;
  }

  /** Stops reading from the network: the server's flow-control window fills. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  cancel(): void {
    this.call.cancel();
  }
}

/**
 * Waits until, for every source, the aggregator's committed offset equals the
 * size of the file it ships: everything written has been counted.
 */
export async function waitUntilSettled(
  aggregatorAddress: string,
  filesBySource: Record<string, string>,
  timeoutMs = 60_000,
  access: ClientAccess = {},
): Promise<void> {
  const probe = new QueryProbe(aggregatorAddress, access);
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

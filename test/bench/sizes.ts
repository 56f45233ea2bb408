/** How big each benchmark's data and windows are: the sizes, or about a tenth of them with `--quick`. */
export interface BenchSizes {
  /** Throughput and mtail: rows of the pre-written file, and its distinct pairs. */
  readonly throughputRows: number;
  readonly throughputPairs: number;
  /** Rows of the small file on which mtail's counts are checked against the truth. */
  readonly mtailCheckRows: number;
  /** The "1 GB" file: re-count CPU and sidecar memory. */
  readonly bigFileBytes: number;
  readonly bigFilePairs: number;
  /** Re-count CPU: the window logtally's CPU is measured over, and the writer's rate meanwhile. */
  readonly cpuWindowMs: number;
  readonly cpuWriterRowsPerSecond: number;
  /** Freshness: samples per condition, and the background writer of the loaded condition. */
  readonly freshnessSamples: number;
  readonly freshnessLoadRowsPerSecond: number;
  readonly freshnessLoadPairs: number;
  /** Scrape cost: series counts, scrapes per count, and the writer appending meanwhile. */
  readonly scrapeSeries: readonly number[];
  readonly scrapes: number;
  readonly scrapeWriterRowsPerSecond: number;
  /** Memory: series the aggregator holds. */
  readonly memorySeries: number;
  /** Resume: bytes committed before the restart, and bytes appended while no sidecar runs. */
  readonly resumeCommittedBytes: number;
  readonly resumeAppendedBytes: number;
  /** Aggregator capacity: concurrent senders, batch shape, and the measured window per sender count. */
  readonly capacitySenders: readonly number[];
  readonly capacityRowsPerBatch: number;
  readonly capacityPairsPerBatch: number;
  readonly capacityWindowMs: number;
  /** Everyday cost: rows per second each pod's application writes, pods on one aggregator, their distinct pairs, settling and window. */
  readonly everydayRates: readonly number[];
  readonly everydayPods: readonly number[];
  readonly everydayPairs: number;
  readonly everydaySettleMs: number;
  readonly everydayWindowMs: number;
  /** PostgreSQL beside SQLite: rows shipped end to end (over two files, as many as the throughput figure's one), and batches timed one by one. */
  readonly storeRows: number;
  readonly storeCommitSamples: number;
}

export const FULL_SIZES: BenchSizes = Object.freeze({
  throughputRows: 10_000_000,
  throughputPairs: 10_000,
  mtailCheckRows: 35_000,
  bigFileBytes: 1_000_000_000,
  bigFilePairs: 10_000,
  cpuWindowMs: 30_000,
  cpuWriterRowsPerSecond: 1_000,
  freshnessSamples: 1_000,
  freshnessLoadRowsPerSecond: 100_000,
  freshnessLoadPairs: 1_000,
  scrapeSeries: Object.freeze([10_000, 100_000]),
  scrapes: 20,
  scrapeWriterRowsPerSecond: 100_000,
  memorySeries: 100_000,
  resumeCommittedBytes: 900_000_000,
  resumeAppendedBytes: 100_000_000,
  capacitySenders: Object.freeze([1, 8, 64]),
  capacityRowsPerBatch: 100,
  capacityPairsPerBatch: 10,
  capacityWindowMs: 5_000,
  everydayRates: Object.freeze([100, 1_000, 10_000]),
  everydayPods: Object.freeze([1, 20]),
  everydayPairs: 20,
  // At a few batches a second V8 is still optimizing the shipping path a minute in; a pod runs for hours.
  everydaySettleMs: 60_000,
  everydayWindowMs: 20_000,
  storeRows: 10_000_000,
  storeCommitSamples: 1_000,
});

/** `--quick`: every volume, count and window about 10× smaller; rates and shapes unchanged. */
export const QUICK_SIZES: BenchSizes = Object.freeze({
  ...FULL_SIZES,
  throughputRows: 1_000_000,
  mtailCheckRows: 3_500,
  bigFileBytes: 100_000_000,
  cpuWindowMs: 3_000,
  freshnessSamples: 100,
  scrapeSeries: Object.freeze([1_000, 10_000]),
  memorySeries: 10_000,
  resumeCommittedBytes: 90_000_000,
  resumeAppendedBytes: 10_000_000,
  capacityWindowMs: 1_000,
  storeRows: 1_000_000,
  storeCommitSamples: 100,
  everydaySettleMs: 5_000,
  everydayWindowMs: 3_000,
});

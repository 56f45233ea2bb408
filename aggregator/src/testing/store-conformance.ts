import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { DEFAULT_METRIC, DEFAULT_SPEC } from "@logtally/proto";
import type { Store, StoreOptions } from "../store/store";
import type { SeriesCount } from "../store/count-view";
import { commitBatch, pairDelta, testBatch } from "./commit-batch";

/** An engine under test: where a fresh state is, and how a store on it is opened. */
export interface StoreEngine {
  readonly name: string;
  /** The location of a new, empty state; a different one on each call. */
  fresh(): Promise<string>;
  /** Opens (store.open() included) a store on `location`. */
  open(location: string, options?: StoreOptions): Promise<Store>;
}

/** A series as "label|label=count", prefixed with its metric unless it is a pair of log_host_job_count. */
function describeSeries(series: Readonly<SeriesCount>): string {
  return `${series.metric === DEFAULT_METRIC ? "" : `${series.metric}:`}${series.labels.join("|")}=${series.count}`;
}

/** Every metric's series, described, sorted. */
function countsOf(store: Store): string[] {
  return [...store.view.allMetrics()].flatMap((metric) => metric.series.map(describeSeries)).sort();
}

async function withStore<T>(engine: StoreEngine, location: string, body: (store: Store) => Promise<T>, options?: StoreOptions): Promise<T> {
  const store = await engine.open(location, options);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

/**
 * What every store must do, whatever its engine: the same rules, the same
 * answers. Registers its tests with node:test.
 */
export function describeStoreConformance(engine: StoreEngine): void {
  describe(`store conformance: ${engine.name}`, () => {
    test("a batch moves counts, its generation, its source and the rejected rows together, and they outlive a reopen", async () => {
      const location = await engine.fresh();
      await withStore(engine, location, async (store) => {
        await commitBatch(store, testBatch());
        await commitBatch(store, testBatch({ endOffset: 250, anchor: "bb", nowMs: 2_000, deltas: [pairDelta("web-1", "backup", 4)] }));
      });
      await withStore(engine, location, async (store) => {
        assert.deepEqual(countsOf(store), ["web-1|backup=7", "web-2|backup=2"]);
        assert.equal(store.view.totalCounted(), 9);
        assert.deepEqual([...store.view.rejectedByReason()], [["empty_field", 2]]);
        const generation = store.view.generation("pod-a", "app.log#1");
        assert.deepEqual(
          { offset: generation?.committedOffset, anchor: generation?.anchor, path: generation?.filePath },
          { offset: 250, anchor: "bb", path: "/var/log/app.log" },
        );
        const source = store.view.allSources().get("pod-a");
        assert.deepEqual({ created: source?.createdMs, latest: source?.latestGeneration }, { created: 1_000, latest: "app.log#1" });
      });
    });

    test("a resend is a duplicate and a gap is out of order: neither changes anything", async () => {
      await withStore(engine, await engine.fresh(), async (store) => {
        await commitBatch(store, testBatch());
        const [resent, gap, overlap] = await store.commitGroup([
          { ...testBatch(), startOffset: 0 },
          { ...testBatch({ endOffset: 300 }), startOffset: 200 },
          { ...testBatch({ endOffset: 150 }), startOffset: 50 },
        ]);
        assert.deepEqual(resent, { decision: "duplicate", committedOffset: 100 });
        assert.deepEqual(gap, { decision: "out_of_order", committedOffset: 100 });
        assert.deepEqual(overlap, { decision: "out_of_order", committedOffset: 100 });
        assert.deepEqual(countsOf(store), ["web-1|backup=3", "web-2|backup=2"]);
      });
    });

    test("batches of one group are decided one after another: the same range twice is one apply and one duplicate", async () => {
      await withStore(engine, await engine.fresh(), async (store) => {
        const outcomes = await store.commitGroup([
          { ...testBatch(), startOffset: 0, sidecarId: "sidecar-1" },
          { ...testBatch(), startOffset: 0, sidecarId: "sidecar-2" },
          { ...testBatch({ endOffset: 180 }), startOffset: 100 },
        ]);
        assert.deepEqual(
          outcomes.map((outcome) => outcome.decision),
          ["apply", "duplicate", "apply"],
        );
        assert.deepEqual(countsOf(store), ["web-1|backup=6", "web-2|backup=4"]);
      });
    });

    test("a generation becomes known only as the next epoch of its file", async () => {
      await withStore(engine, await engine.fresh(), async (store) => {
        const [skipped] = await store.commitGroup([{ ...testBatch({ generation: "app.log#2", epoch: 2 }), startOffset: 0 }]);
        assert.deepEqual(skipped, { decision: "unknown_generation" });
        await commitBatch(store, testBatch());
        await commitBatch(store, testBatch({ generation: "app.log#2", epoch: 2, endOffset: 40 }));
        assert.equal(store.view.latestEpoch("pod-a", "app.log"), 2);
        assert.equal(store.view.allSources().get("pod-a")?.latestGeneration, "app.log#2");
      });
    });

    test("beyond the series limit, rows of new pairs are rejected as series_limit; existing pairs keep counting", async () => {
      const location = await engine.fresh();
      await withStore(
        engine,
        location,
        async (store) => {
          const first = await commitBatch(store, testBatch({ rejected: [] }));
          assert.deepEqual(first.refusedBySeriesLimit, []);
          const second = await commitBatch(
            store,
            testBatch({
              endOffset: 200,
              rejected: [],
              deltas: [pairDelta("web-1", "backup", 1), pairDelta("web-3", "backup", 4)],
            }),
          );
          assert.deepEqual(second.refusedBySeriesLimit, [pairDelta("web-3", "backup", 4)]);
          assert.deepEqual(countsOf(store), ["web-1|backup=4", "web-2|backup=2"]);
          assert.deepEqual([...store.view.rejectedByReason()], [["series_limit", 4]]);
        },
        { maxSeries: 2 },
      );
      // The limit counts the series of the state, not of one process's life.
      await withStore(
        engine,
        location,
        async (store) => {
          const third = await commitBatch(store, testBatch({ endOffset: 300, rejected: [], deltas: [pairDelta("web-4", "backup", 1)] }));
          assert.equal(third.refusedBySeriesLimit.length, 1);
        },
        { maxSeries: 2 },
      );
    });

    test("commit listeners hear every pair a commit changed, with its new total", async () => {
      await withStore(engine, await engine.fresh(), async (store) => {
        const heard: string[][] = [];
        const unsubscribe = store.onCommit(({ changed }) => heard.push(changed.map(describeSeries).sort()));
        await commitBatch(store, testBatch());
        await commitBatch(store, testBatch({ endOffset: 150, deltas: [pairDelta("web-2", "backup", 5)] }));
        await store.commitGroup([{ ...testBatch(), startOffset: 0 }]);
        unsubscribe();
        await commitBatch(store, testBatch({ endOffset: 160, deltas: [pairDelta("web-2", "backup", 1)] }));
        assert.deepEqual(heard, [["web-1|backup=3", "web-2|backup=2"], ["web-2|backup=7"]]);
      });
    });

    test("a metric is registered once, durably; the same labels again are known, other labels a conflict", async () => {
      const location = await engine.fresh();
      const spec = { metric: "http_requests", labelNames: ["method", "status"] };
      await withStore(engine, location, async (store) => {
        assert.deepEqual(await store.registerMetric(spec), {
          outcome: "registered",
          definition: { name: "http_requests", labelNames: ["method", "status"], kind: "counter" },
        });
        assert.equal((await store.registerMetric(spec)).outcome, "known");
        assert.equal((await store.registerMetric(DEFAULT_SPEC)).outcome, "known", "log_host_job_count is always there");
      });
      await withStore(engine, location, async (store) => {
        const conflict = await store.registerMetric({ metric: "http_requests", labelNames: ["method"] });
        assert.deepEqual(conflict, { outcome: "conflict", definition: { name: "http_requests", labelNames: ["method", "status"], kind: "counter" } });
        assert.equal((await store.registerMetric(spec)).outcome, "known");
        assert.deepEqual(
          [...store.view.allMetrics()].map(({ definition }) => `${definition.name}(${definition.labelNames.join(",")}):${definition.kind}`).sort(),
          ["http_requests(method,status):counter", "log_host_job_count(host,job_name):gauge"],
        );
      });
    });

    test("series of any metric count beside the pairs, and outlive a reopen", async () => {
      const location = await engine.fresh();
      const requests = (method: string, code: string, count: number) => ({ metric: "http_requests", labels: [method, code], count });
      await withStore(engine, location, async (store) => {
        await store.registerMetric({ metric: "http_requests", labelNames: ["method", "status"] });
        await store.registerMetric({ metric: "boots", labelNames: [] });
        await commitBatch(
          store,
          testBatch({ deltas: [pairDelta("web-1", "backup", 3), requests("GET", "200", 5), { metric: "boots", labels: [], count: 1 }] }),
        );
        await commitBatch(store, testBatch({ endOffset: 200, deltas: [requests("GET", "200", 2), requests('P"O\\ST', "500", 1)] }));
      });
      await withStore(engine, location, async (store) => {
        assert.deepEqual(countsOf(store), ["boots:=1", 'http_requests:P"O\\ST|500=1', "http_requests:GET|200=7", "web-1|backup=3"].sort());
        assert.equal(store.view.metric("http_requests")?.rows, 8);
        assert.equal(store.view.totalCounted(), 12);
      });
    });

    test("the series limit is per metric: a full metric refuses new series while another keeps its room", async () => {
      const location = await engine.fresh();
      const options = { maxSeries: 2 };
      const requests = (method: string, count: number) => ({ metric: "http_requests", labels: [method], count });
      await withStore(
        engine,
        location,
        async (store) => {
          await store.registerMetric({ metric: "http_requests", labelNames: ["method"] });
          const first = await commitBatch(
            store,
            testBatch({ rejected: [], deltas: [requests("GET", 1), requests("PUT", 1), requests("POST", 4), pairDelta("web-1", "backup", 1)] }),
          );
          assert.deepEqual(first.refusedBySeriesLimit, [requests("POST", 4)]);
          const second = await commitBatch(store, testBatch({ endOffset: 200, rejected: [], deltas: [pairDelta("web-2", "backup", 1), requests("GET", 2)] }));
          assert.deepEqual(second.refusedBySeriesLimit, []);
          assert.deepEqual([...store.view.rejectedByReason()], [["series_limit", 4]]);
        },
        options,
      );
      await withStore(
        engine,
        location,
        async (store) => {
          const third = await commitBatch(store, testBatch({ endOffset: 300, rejected: [], deltas: [pairDelta("web-3", "backup", 1), requests("PUT", 1)] }));
          assert.deepEqual(third.refusedBySeriesLimit, [pairDelta("web-3", "backup", 1)]);
          assert.deepEqual(countsOf(store), ["http_requests:GET=3", "http_requests:PUT=2", "web-1|backup=1", "web-2|backup=1"]);
        },
        options,
      );
    });
  });
}

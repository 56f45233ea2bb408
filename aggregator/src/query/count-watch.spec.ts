import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import type { WatchCountsResponse } from "@logtally/proto";
import { createLogger } from "@logtally/runtime";
import { parseCountFilter } from "./count-filter";
import { CountWatchHub, type WatchCall } from "./count-watch";
import { SeriesIndexes } from "./series-indexes";
import { SqliteStore } from "../store/sqlite-store";
import type { SeriesDelta } from "../ingest/series-limit";
import { commitBatchNow, pairDelta } from "../testing/commit-batch";

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-watch-spec-"));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

/**
 * A WatchCall whose transport takes a message only when the test says so:
 * `flush()` completes the message handed over, as reading it would.
 */
class FakeCall extends EventEmitter implements WatchCall {
  readonly handedOver: WatchCountsResponse[] = [];
  private readonly unflushed: Array<() => void> = [];
  ended: ServiceError | undefined;

  constructor() {
    super();
    // grpc-js's call listens for "error" itself: it turns it into the status.
    this.on("error", () => undefined);
  }

  write(message: WatchCountsResponse, flushed: (error?: Error | null) => void): boolean {
    this.handedOver.push(message);
    this.unflushed.push(() => flushed(null));
    return true;
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === "error") this.ended = args[0] as ServiceError;
    return super.emit(event, ...args);
  }

  getPeer(): string {
    return "fake";
  }

  /** Completes the oldest handed-over message; false when none is waiting. */
  flush(): boolean {
    const next = this.unflushed.shift();
    next?.();
    return next !== undefined;
  }

  flushAll(): void {
    while (this.flush());
  }
}

let stores = 0;
function openStore(): SqliteStore {
  const store = SqliteStore.open(path.join(tempRoot, `state-${++stores}`));
  after(() => store.close());
  return store;
}

let offset = 0;
function commit(store: SqliteStore, deltas: Array<{ host: string; jobName: string; count: number } | SeriesDelta>): void {
  offset += 100;
  commitBatchNow(store, {
    sourceId: "s",
    generation: "f#1",
    fileId: "f",
    epoch: 1,
    endOffset: offset,
    anchor: "",
    fileBirthMs: 0,
    filePath: "",
    sidecarId: "car",
    deltas: deltas.map((delta) => ("host" in delta ? pairDelta(delta.host, delta.jobName, delta.count) : delta)),
    rejected: [],
    nowMs: 1,
  });
}

function hubFor(store: SqliteStore, maxBufferedBytes: number): CountWatchHub {
  const indexes = new SeriesIndexes(store.view);
  store.onCommit(({ changed }) => changed.forEach((series) => indexes.add(series)));
  return new CountWatchHub(store, indexes, maxBufferedBytes, createLogger("aggregator", "fatal"));
}

const NO_FILTER = { host: "", jobName: "", hostPrefix: "", jobNamePrefix: "", metric: "", labels: {} };

test("a watcher gets the snapshot, then only its filter's changes, one message handed over at a time", () => {
  const store = openStore();
  commit(store, [
    { host: "web-1", jobName: "a", count: 1 },
    { host: "db-1", jobName: "a", count: 1 },
  ]);
  const hub = hubFor(store, 1 << 20);
  const call = new FakeCall();
  hub.watch(call, parseCountFilter({ ...NO_FILTER, hostPrefix: "web" }));
  assert.deepEqual(call.handedOver, [{ kind: "SNAPSHOT", counts: [{ host: "web-1", jobName: "a", count: 1 }], series: [], snapshotComplete: true }]);

  commit(store, [{ host: "db-1", jobName: "a", count: 1 }]);
  commit(store, [
    { host: "web-1", jobName: "a", count: 2 },
    { host: "web-2", jobName: "b", count: 1 },
  ]);
  commit(store, [{ host: "web-1", jobName: "a", count: 4 }]);
  assert.equal(call.handedOver.length, 1, "nothing more is handed over before the snapshot is flushed");
  call.flushAll();
  call.flushAll();
  assert.deepEqual(call.handedOver.slice(1), [
    {
      kind: "CHANGE",
      counts: [
        { host: "web-1", jobName: "a", count: 3 },
        { host: "web-2", jobName: "b", count: 1 },
      ],
      series: [],
      snapshotComplete: false,
    },
    { kind: "CHANGE", counts: [{ host: "web-1", jobName: "a", count: 7 }], series: [], snapshotComplete: false },
  ]);
  assert.equal(call.ended, undefined);
  assert.equal(hub.size, 1);
});

test("changes piling up past the bound end the watcher with RESOURCE_EXHAUSTED and drop its queue", () => {
  const store = openStore();
  const hub = hubFor(store, 1000);
  const slow = new FakeCall();
  const fast = new FakeCall();
  hub.watch(slow, parseCountFilter(NO_FILTER));
  hub.watch(fast, parseCountFilter(NO_FILTER));
  slow.flushAll();
  const host = "h".repeat(200);
  for (let i = 1; i <= 10; i++) {
    commit(store, [{ host, jobName: `j${i}`, count: 1 }]);
    fast.flushAll();
  }
  assert.equal(slow.ended?.code, status.RESOURCE_EXHAUSTED);
  assert.match(slow.ended?.details ?? "", /fell more than 1000 bytes of changes behind/);
  // The snapshot and the one change handed over before the bound was hit; the queue behind it was dropped.
  assert.equal(slow.handedOver.length, 2);
  slow.flushAll();
  assert.equal(slow.handedOver.length, 2, "nothing queued is handed over after the end");
  assert.equal(fast.ended, undefined, "a watcher that keeps up is not ended");
  assert.equal(fast.handedOver.length, 11);
  assert.equal(hub.size, 1);
});

test("one change larger than the bound still goes through when nothing is queued", () => {
  const store = openStore();
  const hub = hubFor(store, 1024);
  const call = new FakeCall();
  hub.watch(call, parseCountFilter(NO_FILTER));
  call.flushAll();
  commit(
    store,
    Array.from({ length: 100 }, (_, i) => ({ host: `host-${i}`, jobName: "job", count: 1 })),
  );
  call.flushAll();
  assert.equal(call.ended, undefined);
  assert.equal(call.handedOver.at(-1)?.counts?.length, 100);
});

test("a cancelled watcher is forgotten; closing ends the others with UNAVAILABLE and refuses new ones", () => {
  const store = openStore();
  const hub = hubFor(store, 1 << 20);
  const gone = new FakeCall();
  const staying = new FakeCall();
  hub.watch(gone, parseCountFilter(NO_FILTER));
  hub.watch(staying, parseCountFilter(NO_FILTER));
  gone.emit("cancelled");
  assert.equal(hub.size, 1);
  commit(store, [{ host: "a", jobName: "b", count: 1 }]);
  gone.flushAll();
  assert.equal(gone.handedOver.length, 1, "a cancelled watcher gets nothing more");

  hub.closeAll("aggregator is shutting down");
  assert.equal(staying.ended?.code, status.UNAVAILABLE);
  assert.equal(staying.ended?.details, "aggregator is shutting down");
  assert.equal(hub.size, 0);
  const late = new FakeCall();
  hub.watch(late, parseCountFilter(NO_FILTER));
  assert.equal(late.ended?.code, status.UNAVAILABLE);
  assert.equal(late.handedOver.length, 0);
  commit(store, [{ host: "a", jobName: "b", count: 1 }]);
  staying.flushAll();
  assert.equal(staying.handedOver.length, 1, "no change is sent after closing");
});

test("a watch of another metric, counted only later, gets its series by label, and no pair", () => {
  const store = openStore();
  const hub = hubFor(store, 1 << 20);
  const call = new FakeCall();
  hub.watch(call, parseCountFilter({ ...NO_FILTER, metric: "http_requests", labels: { status: "500" } }));
  assert.deepEqual(call.handedOver, [{ kind: "SNAPSHOT", counts: [], series: [], snapshotComplete: true }]);
  store.registerMetricNow({ metric: "http_requests", labelNames: ["method", "status"] });
  commit(store, [
    { host: "web-1", jobName: "a", count: 1 },
    { metric: "http_requests", labels: ["GET", "200"], count: 3 },
    { metric: "http_requests", labels: ["GET", "500"], count: 2 },
  ]);
  call.flushAll();
  assert.deepEqual(call.handedOver.slice(1), [
    { kind: "CHANGE", counts: [], series: [{ metric: "http_requests", labels: { method: "GET", status: "500" }, count: 2 }], snapshotComplete: false },
  ]);
});

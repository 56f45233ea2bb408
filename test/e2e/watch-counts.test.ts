import { after, before, describe, it, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { PairCount__Output } from "@logtally/proto";
import { IngestStream, type TestBatch } from "../support/ingest-client";
import { startAggregator, type AggregatorProcess } from "../support/processes";
import { QueryProbe, type CountWatch } from "../support/query";

/** A batch of `deltas` covering `bytes` bytes from `startOffset`. */
function batchOf(sequence: number, startOffset: number, deltas: Array<{ host: string; jobName: string; count: number }>, bytes = 10_000): TestBatch {
  return {
    sequence,
    startOffset,
    endOffset: startOffset + bytes,
    deltas,
    rows: deltas.reduce((sum, delta) => sum + delta.count, 0),
    rejected: [],
    anchor: "",
  };
}

const pair = (host: string, jobName: string, count: number): PairCount__Output => ({ host, jobName, count });

/**
 * Requirement: WatchCounts sends the matching counts as they are, then the
 * new totals of the matching pairs each committed batch changes.
 */
describe("WatchCounts", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-watch-"));
  let aggregator: AggregatorProcess;
  let probe: QueryProbe;
  let ingest: IngestStream;
  let offset = 0;
  let sequence = 0;
  const watches: CountWatch[] = [];

  const ship = async (deltas: Array<{ host: string; jobName: string; count: number }>): Promise<void> => {
    const bytes = 100 * deltas.length;
    const ack = await ingest.ship(batchOf(++sequence, offset, deltas, bytes));
    assert.equal(ack.outcome, "APPLIED");
    offset += bytes;
  };
  const watch = (request: Parameters<QueryProbe["watchCounts"]>[0]): CountWatch => {
    const opened = probe.watchCounts(request);
    watches.push(opened);
    return opened;
  };

  before(async () => {
    aggregator = await startAggregator(path.join(dir, "state"));
    probe = new QueryProbe(aggregator.grpcAddress);
    ingest = await IngestStream.open(aggregator.grpcAddress, { sourceId: "watched", timeoutMs: 5 * 60_000 });
    await ship([
      { host: "web-1", jobName: "backup", count: 2 },
      { host: "web-2", jobName: "cron", count: 1 },
      { host: "db-1", jobName: "backup", count: 5 },
    ]);
  });

  after(async () => {
    for (const opened of watches) opened.cancel();
    ingest?.close();
    probe?.close();
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("sends the matching counts, then each committed batch's matching changes with their new totals", async () => {
    const web = watch({ hostPrefix: "web-" });
    const backups = watch({ jobName: "backup" });
    const everything = watch({});
    assert.deepEqual(await web.snapshot(), [pair("web-1", "backup", 2), pair("web-2", "cron", 1)]);
    assert.deepEqual(await backups.snapshot(), [pair("db-1", "backup", 5), pair("web-1", "backup", 2)]);
    assert.deepEqual(await everything.snapshot(), [pair("db-1", "backup", 5), pair("web-1", "backup", 2), pair("web-2", "cron", 1)]);

    await ship([
      { host: "web-1", jobName: "backup", count: 3 },
      { host: "db-1", jobName: "backup", count: 1 },
      { host: "web-3", jobName: "deploy", count: 4 },
    ]);
    assert.deepEqual(await web.next(), {
      kind: "CHANGE",
      counts: [pair("web-1", "backup", 5), pair("web-3", "deploy", 4)],
      series: [],
      snapshotComplete: false,
    });
    assert.deepEqual(await backups.next(), {
      kind: "CHANGE",
      counts: [pair("web-1", "backup", 5), pair("db-1", "backup", 6)],
      series: [],
      snapshotComplete: false,
    });
    assert.deepEqual((await everything.next()).counts, [pair("web-1", "backup", 5), pair("db-1", "backup", 6), pair("web-3", "deploy", 4)]);

    // A batch that changes nothing a watcher selects sends it nothing: its
    // next message is the batch after.
    await ship([{ host: "db-1", jobName: "vacuum", count: 1 }]);
    await ship([{ host: "web-2", jobName: "cron", count: 1 }]);
    assert.deepEqual(await web.next(), { kind: "CHANGE", counts: [pair("web-2", "cron", 2)], series: [], snapshotComplete: false });
    assert.deepEqual((await everything.next()).counts, [pair("db-1", "vacuum", 1)]);
    assert.deepEqual((await everything.next()).counts, [pair("web-2", "cron", 2)]);
    assert.equal(backups.unread, 0, "the backup watcher selects neither change");
  });

  it("sends a large snapshot in several messages, the last one marked complete", async () => {
    const bulk = Array.from({ length: 10_050 }, (_, i) => ({ host: `bulk-${String(i).padStart(5, "0")}`, jobName: "load", count: 1 }));
    await ship(bulk);
    const watcher = watch({ hostPrefix: "bulk-" });
    const first = await watcher.next();
    const second = await watcher.next();
    assert.deepEqual([first.kind, first.counts.length, first.snapshotComplete], ["SNAPSHOT", 10_000, false]);
    assert.deepEqual([second.kind, second.counts.length, second.snapshotComplete], ["SNAPSHOT", 50, true]);
    assert.deepEqual([...first.counts, ...second.counts], bulk);
  });

  it("sends one complete, empty snapshot when nothing matches", async () => {
    const watcher = watch({ host: "nobody" });
    assert.deepEqual(await watcher.next(), { kind: "SNAPSHOT", counts: [], series: [], snapshotComplete: true });
  });

  it("refuses a filter that could never match with INVALID_ARGUMENT", async () => {
    for (const request of [{ host: "bad\u0001host" }, { host: "web-1", hostPrefix: "web" }]) {
      const status = await watch(request).status;
      assert.equal(grpc.status[status.code], "INVALID_ARGUMENT", `${JSON.stringify(request)}: ${status.details}`);
    }
  });
});

/**
 * Requirement: a watcher that does not read fast enough is ended with
 * RESOURCE_EXHAUSTED instead of holding unbounded memory, while the others
 * keep receiving every change; and every watcher is ended cleanly when the
 * aggregator shuts down.
 */
test("a slow watcher is cut off with RESOURCE_EXHAUSTED, the others keep up, and shutdown ends the rest", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-watch-slow-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const aggregator = await startAggregator(path.join(dir, "state"), { extraArgs: ["--watch-buffer-bytes", "65536"] });
  t.after(() => aggregator.stop("SIGKILL"));
  const probe = new QueryProbe(aggregator.grpcAddress);
  t.after(() => probe.close());
  const ingest = await IngestStream.open(aggregator.grpcAddress, { sourceId: "busy", timeoutMs: 5 * 60_000 });
  t.after(() => ingest.close());

  const slow = probe.watchCounts({});
  const steady = probe.watchCounts({});
  t.after(() => {
    slow.cancel();
    steady.cancel();
  });
  assert.deepEqual(await slow.snapshot(), []);
  assert.deepEqual(await steady.snapshot(), []);
  slow.pause();

  // Each batch changes 400 pairs with long host names (about 100 KB a
  // message): the paused client's flow-control window fills, then the
  // aggregator's queue for it, while the steady client reads along.
  const hosts = Array.from({ length: 400 }, (_, i) => `host-${String(i).padStart(4, "0")}-${"x".repeat(200)}`);
  let batches = 0;
  while (!aggregator.logs.some((line) => line.msg === "watcher too slow: stream ended")) {
    assert.ok(batches < 500, `the slow watcher was never cut off after ${batches} batches\n${aggregator.dump()}`);
    const ack = await ingest.ship(
      batchOf(
        ++batches,
        (batches - 1) * 100_000,
        hosts.map((host) => ({ host, jobName: "job", count: 1 })),
        100_000,
      ),
    );
    assert.equal(ack.outcome, "APPLIED");
    const change = await steady.next();
    assert.equal(change.kind, "CHANGE");
    assert.equal(change.counts.length, hosts.length);
    assert.ok(
      change.counts.every((count) => count.count === batches),
      `batch ${batches}: every total is ${batches}`,
    );
  }

  t.diagnostic(`the slow watcher was cut off after ${batches} batches`);
  slow.resume();
  const cutOff = await slow.status;
  assert.equal(grpc.status[cutOff.code], "RESOURCE_EXHAUSTED", cutOff.details);
  // What it did receive is a prefix of the changes, in order.
  const received: number[] = [];
  for (;;) {
    const message = await slow.next().catch(() => undefined);
    if (!message) break;
    received.push(message.counts[0]!.count);
  }
  assert.ok(received.length < batches, `the slow watcher got ${received.length} of ${batches} changes`);
  t.diagnostic(`it had received ${received.length} of them`);
  assert.deepEqual(
    received,
    received.map((_, i) => i + 1),
  );

  // The steady watcher is still streaming: the next batch reaches it.
  await ingest.ship(batchOf(++batches, (batches - 1) * 100_000, [{ host: "after", jobName: "job", count: 1 }], 100_000));
  assert.deepEqual((await steady.next()).counts, [pair("after", "job", 1)]);

  await aggregator.stop("SIGTERM");
  const ended = await steady.status;
  assert.equal(grpc.status[ended.code], "UNAVAILABLE", ended.details);
  assert.match(ended.details, /shutting down/);
  assert.equal((await aggregator.exited).code, 0);
});

import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { test, type TestContext } from "node:test";
import type { BatchAck__Output, DeltaBatch } from "@logtally/proto";
import pino from "pino";
import { SidecarMetrics } from "../metrics";
import { ChangeNotifier } from "../tail/change-notifier";
import { ANCHOR_WINDOW_BYTES, FollowedFile } from "../tail/followed-file";
import { rulesOf } from "../testing/counting-rules";
import { GenerationShipper, type ShipperContext } from "./generation-shipper";
import { ConnectionLost, type IngestConnection } from "./ingest-connection";
import { Sleeper } from "./sleeper";

const BATCH_BYTES = 4096;
const LINE = "host-a,job-b\n";

/** A batch shipped, and how the test answers it. */
interface Shipped {
  readonly batch: DeltaBatch & { sequence: number };
  answer(outcome: BatchAck__Output["outcome"], committedOffset: number): void;
}

/**
 * Stands in for the stream to the aggregator: records each batch and lets the
 * test decide when and how it is answered. Unit scope: the aggregator's side
 * of this is tested against real processes in test/e2e.
 */
class ScriptedConnection {
  readonly shipped: Shipped[] = [];
  readonly heartbeatIntervalMs = 0;
  private shippedWaiter: (() => void) | undefined;

  ship(batch: DeltaBatch & { sequence: number }, signal: AbortSignal): Promise<BatchAck__Output> {
    return new Promise((resolve, reject) => {
      signal.addEventListener("abort", () => reject(new ConnectionLost("stopping: the answer was not awaited")), { once: true });
      this.shipped.push({
        batch,
        answer: (outcome, committedOffset) => resolve({ sequence: batch.sequence, generation: batch.generation ?? "", outcome, committedOffset }),
      });
      this.shippedWaiter?.();
    });
  }

  heartbeat(): void {}

  /** Resolves once `count` batches were shipped in all; fails the test if that takes long. */
  async shippedAtLeast(count: number): Promise<Shipped[]> {
    const deadline = Date.now() + 5_000;
    while (this.shipped.length < count) {
      assert.ok(Date.now() < deadline, `${count} batches shipped (${this.shipped.length} were)`);
      await new Promise<void>((resolve) => {
        this.shippedWaiter = resolve;
        setTimeout(resolve, 50).unref();
      });
    }
    return this.shipped;
  }

  /** Asserts that, a while later, still only `count` batches were shipped. */
  async stillShipped(count: number, why?: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(this.shipped.length, count, why);
  }
}

async function fileOfLines(t: TestContext, lines: number): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "logtally-shipper-"));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, LINE.repeat(lines));
  return file;
}

/** A shipper of `file` from offset 0, and what it runs with. */
async function shipperOf(t: TestContext, file: string, batchesInFlight: number) {
  const followed = (await FollowedFile.open(file))!;
  t.after(() => followed.close());
  const abort = new AbortController();
  t.after(() => abort.abort());
  const notifier = new ChangeNotifier(file, 10);
  t.after(() => notifier.stop());
  let sequence = 0;
  const context: ShipperContext = {
    path: file,
    maxLineBytes: 1024,
    batchMaxBytes: BATCH_BYTES,
    rules: rulesOf(),
    batchLingerMs: 0,
    batchesInFlight,
    rotateGraceMs: 0,
    readBuffer: Buffer.allocUnsafe(ANCHOR_WINDOW_BYTES + 1024),
    notifier,
    metrics: new SidecarMetrics(),
    log: pino({ level: "silent" }),
    draining: () => false,
    signal: abort.signal,
    linger: new Sleeper(abort.signal),
    nextSequence: () => ++sequence,
    acknowledged: () => undefined,
  };
  const connection = new ScriptedConnection();
  const shipper = new GenerationShipper(context, connection as unknown as IngestConnection, followed, "file#1", 0, "");
  const running = shipper.run();
  running.catch(() => undefined);
  return { connection, context, running };
}

test("while behind the file, the next batch is shipped before the last is acknowledged", async (t) => {
  const file = await fileOfLines(t, 2_000);
  const { connection } = await shipperOf(t, file, 2);
  const [first, second] = await connection.shippedAtLeast(2);
  assert.equal(second!.batch.startOffset, first!.batch.endOffset);
  await connection.stillShipped(2, "no third until the first is answered");
  first!.answer("APPLIED", Number(first!.batch.endOffset));
  const third = (await connection.shippedAtLeast(3))[2]!;
  assert.equal(third.batch.startOffset, second!.batch.endOffset);
});

test("with one batch in flight, the next waits for its acknowledgement", async (t) => {
  const file = await fileOfLines(t, 2_000);
  const { connection } = await shipperOf(t, file, 1);
  const [first] = await connection.shippedAtLeast(1);
  await connection.stillShipped(1);
  first!.answer("APPLIED", Number(first!.batch.endOffset));
  const second = (await connection.shippedAtLeast(2))[1]!;
  assert.equal(second.batch.startOffset, first!.batch.endOffset);
});

test("after a refusal, the batches shipped behind it are answered before reading starts again where the aggregator stands", async (t) => {
  const file = await fileOfLines(t, 2_000);
  const { connection, context } = await shipperOf(t, file, 2);
  const [first, second] = await connection.shippedAtLeast(2);
  // Another sidecar on the same file committed past both.
  const ahead = Number(second!.batch.endOffset) + 3 * LINE.length;
  first!.answer("DUPLICATE", ahead);
  await connection.stillShipped(2, "nothing is read from the old position while a batch behind the refusal is unanswered");
  second!.answer("DUPLICATE", ahead);
  const next = (await connection.shippedAtLeast(3))[2]!;
  assert.equal(Number(next.batch.startOffset), ahead);
  const batches = await context.metrics.registry.getSingleMetricAsString("logtally_sidecar_batches_total");
  assert.match(batches, /outcome="duplicate"\} 2/);
});

test("after a refusal, reading starts again from where the last answer says the aggregator stands", async (t) => {
  const file = await fileOfLines(t, 2_000);
  const { connection } = await shipperOf(t, file, 2);
  const [first, second] = await connection.shippedAtLeast(2);
  // The first was not where the aggregator stood; meanwhile another sidecar
  // committed exactly to the second's start, so the second was counted.
  first!.answer("OUT_OF_ORDER", 0);
  second!.answer("APPLIED", Number(second!.batch.endOffset));
  const next = (await connection.shippedAtLeast(3))[2]!;
  assert.equal(Number(next.batch.startOffset), Number(second!.batch.endOffset));
});

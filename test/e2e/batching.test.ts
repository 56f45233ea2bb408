import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LogWriter } from "../support/log-writer";
import { scrape, metricValue } from "../support/metrics";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import { aggregatorCounts, sorted, waitUntilSettled } from "../support/query";

/**
 * What keeps a sidecar cheap at everyday rates: rows written close together
 * are shipped in one batch after a linger, not one batch (and one wake-up,
 * one round trip, one commit) per write; and a drain never waits for a
 * linger to end. Both stay exact.
 */
describe("batching: linger and drain", () => {
  let dir: string;
  let aggregator: AggregatorProcess;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-batching-"));
    aggregator = await startAggregator(path.join(dir, "state"));
  });

  after(async () => {
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function appliedBatches(): Promise<number> {
    return metricValue(await scrape(aggregator.metricsUrl), "logtally_batches_total", { outcome: "applied" }) ?? 0;
  }

  /** Appends 10 rows every 25 ms, 20 times, while a sidecar with this linger ships them; returns the batches applied. */
  async function shipTrickle(sourceId: string, lingerMs: number, seed: number): Promise<{ batches: number; writer: LogWriter }> {
    const writer = new LogWriter(path.join(dir, `${sourceId}.csv`), seed);
    // A file is known by its first line: the sidecar starts on one that has it.
    writer.append(1, { junkRatio: 0 });
    const sidecar = startSidecar(sourceId, {
      file: writer.file,
      aggregator: aggregator.grpcAddress,
      sourceId,
      extraArgs: ["--batch-linger-ms", String(lingerMs)],
    });
    try {
      await waitUntilSettled(aggregator.grpcAddress, { [sourceId]: writer.file });
      const before = await appliedBatches();
      for (let write = 0; write < 20; write++) {
        writer.append(10, { junkRatio: 0 });
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await waitUntilSettled(aggregator.grpcAddress, { [sourceId]: writer.file });
      return { batches: (await appliedBatches()) - before, writer };
    } finally {
      await sidecar.stop("SIGKILL");
    }
  }

  it("ships rows written during a linger in one batch, where no linger ships one per write", async () => {
    const lingering = await shipTrickle("lingering", 2_000, 1);
    const eager = await shipTrickle("eager", 0, 2);
    assert.ok(lingering.batches <= 2, `with a 2 s linger, 20 writes over 0.5 s took ${lingering.batches} batches`);
    assert.ok(eager.batches >= 5, `without a linger, 20 writes 25 ms apart took only ${eager.batches} batches`);
    const truth = new Map<string, number>();
    for (const { writer } of [lingering, eager]) for (const [key, count] of writer.truth) truth.set(key, (truth.get(key) ?? 0) + count);
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(truth));
  });

  it("ships a lingering batch at once when asked to drain", async () => {
    const writer = new LogWriter(path.join(dir, "draining.csv"), 3);
    writer.append(100, { junkRatio: 0 });
    const before = await appliedBatches();
    const sidecar = startSidecar("draining", {
      file: writer.file,
      aggregator: aggregator.grpcAddress,
      sourceId: "draining",
      extraArgs: ["--batch-linger-ms", "10000"],
    });
    await sidecar.waitForLog("resuming from the committed offset");
    // The rows read at start linger: nothing is shipped yet.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await appliedBatches(), before, "the batch was shipped before its linger ended");
    const stopping = Date.now();
    const exit = await sidecar.stop("SIGTERM");
    const tookMs = Date.now() - stopping;
    assert.equal(exit.code, 0, sidecar.dump());
    assert.ok(tookMs < 5_000, `the drain waited ${tookMs} ms, as if for the 10 s linger`);
    await waitUntilSettled(aggregator.grpcAddress, { draining: writer.file }, 1_000);
    assert.equal((await appliedBatches()) - before, 1);
  });

  it("stays exact with as many batches in flight as the aggregator takes, none refused", async () => {
    const writer = new LogWriter(path.join(dir, "pipelined.csv"), 4);
    writer.append(20_000);
    const before = await appliedBatches();
    // Other tests' rows share this aggregator: what this file adds is compared.
    const expected = new Map(await aggregatorCounts(aggregator.metricsUrl));
    for (const [key, count] of writer.truth) expected.set(key, (expected.get(key) ?? 0) + count);
    const sidecar = startSidecar("pipelined", {
      file: writer.file,
      aggregator: aggregator.grpcAddress,
      sourceId: "pipelined",
      extraArgs: ["--batches-in-flight", "4", "--batch-max-bytes", "4096"],
    });
    try {
      await waitUntilSettled(aggregator.grpcAddress, { pipelined: writer.file });
      const metrics = await scrape(aggregator.metricsUrl);
      const batches = metricValue(metrics, "logtally_batches_total", { outcome: "applied" })! - before;
      assert.ok(batches >= 50, `${fs.statSync(writer.file).size} bytes in batches of 4 KiB took only ${batches} batches`);
      assert.equal(metrics.filter((sample) => sample.name === "logtally_ingest_errors_total" && sample.value > 0).length, 0, sidecar.dump());
      assert.doesNotMatch(sidecar.dump(), /aggregator unreachable|still unread/);
      assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(expected));
    } finally {
      await sidecar.stop("SIGKILL");
    }
  });
});

import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { MAX_MESSAGE_BYTES, loadLogtallyGrpc, type IngestClient, type ShipRequest, type ShipResponse__Output } from "@logtally/proto";
import { scrape, metricValue } from "../support/metrics";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { QueryProbe, aggregatorCounts, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";

const SHIP_METHOD = "/logtally.v1.Ingest/Ship";

/** One Ingest stream as a test drives it: the answers it got, and how it ended. */
interface TestStream<Request> {
  readonly call: grpc.ClientDuplexStream<Request, ShipResponse__Output>;
  readonly answers: ShipResponse__Output[];
  readonly status: Promise<grpc.StatusObject>;
}

function observe<Request>(call: grpc.ClientDuplexStream<Request, ShipResponse__Output>): TestStream<Request> {
  const answers: ShipResponse__Output[] = [];
  call.on("data", (answer: ShipResponse__Output) => answers.push(answer));
  call.on("error", () => undefined);
  return { call, answers, status: new Promise((resolve) => call.on("status", resolve)) };
}

/** How the stream ended; rejects if it is still open after 15 s (a bound against hanging, not a measurement). */
async function ended<Request>(stream: TestStream<Request>): Promise<grpc.StatusObject> {
  let timer: NodeJS.Timeout | undefined;
  const open = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the stream is still open after 15 s with ${stream.answers.length} answers`)), 15_000);
  });
  try {
    return await Promise.race([stream.status, open]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when the stream has `count` answers; rejects if it ends first. */
async function answered<Request>(stream: TestStream<Request>, count: number): Promise<void> {
  const ended = stream.status.then((status) => {
    throw new Error(`stream ended with ${grpc.status[status.code]} "${status.details}" after ${stream.answers.length} answers`);
  });
  ended.catch(() => undefined);
  await Promise.race([waitFor(() => (stream.answers.length >= count ? true : undefined), { timeoutMs: 15_000 }), ended]);
}

/** Everything a client can observe of the aggregator's committed state. */
async function snapshot(aggregator: AggregatorProcess): Promise<unknown> {
  const probe = new QueryProbe(aggregator.grpcAddress);
  try {
    return {
      series: sorted(await aggregatorCounts(aggregator.metricsUrl)),
      sources: (await probe.listSources()).map(({ lastSeenUnixMillis: _, connectedSidecars: __, ...rest }) => rest),
    };
  } finally {
    probe.close();
  }
}

const hello = (sourceId: string): ShipRequest => ({ hello: { sourceId, fileId: "7-limits", sidecarId: sourceId, supersedeGeneration: "" } });

/** A batch of `generation` over [start, end) with one row of server1/backup. */
const batch = (generation: string, sequence: number, startOffset: number, endOffset: number): ShipRequest => ({
  batch: { sequence, generation, startOffset, endOffset, deltas: [{ host: "server1", jobName: "backup", count: 1 }], rows: 1, rejected: [], anchor: "" },
});

/**
 * Requirement: no client holds more of the aggregator than its bounds allow,
 * each refusal is a clear status, and honest sidecars are never cut: messages
 * up to the size limit, a number of ingest streams, a time to say Hello, and
 * answers a peer leaves unread.
 */
describe("limits on ingest streams", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-limits-"));
  const processes: RunningProcess[] = [];
  const clients: grpc.Client[] = [];
  const track = <P extends RunningProcess>(running: P): P => {
    processes.push(running);
    return running;
  };
  const client = (aggregator: AggregatorProcess): IngestClient => {
    const { Ingest } = loadLogtallyGrpc().logtally.v1;
    const created = new Ingest(aggregator.grpcAddress, grpc.credentials.createInsecure());
    clients.push(created);
    return created;
  };

  after(async () => {
    for (const created of clients) created.close();
    await Promise.all(processes.map((running) => running.stop("SIGKILL")));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** An aggregator with `extraArgs` and a sidecar on a file with rows, both settled. */
  async function withHonestSidecar(name: string, extraArgs: string[]): Promise<{ aggregator: AggregatorProcess; file: string; settle: () => Promise<void> }> {
    const aggregator = track(await startAggregator(path.join(dir, `${name}-state`), { name, extraArgs }));
    const file = path.join(dir, `${name}.csv`);
    fs.writeFileSync(file, "server1,backup\nserver2,cron\n");
    track(startSidecar(`${name}-sidecar`, { file, aggregator: aggregator.grpcAddress, sourceId: "honest" }));
    const settle = () => waitUntilSettled(aggregator.grpcAddress, { honest: file });
    await settle();
    return { aggregator, file, settle };
  }

  it("ends a stream whose message is over the size limit with RESOURCE_EXHAUSTED, changing nothing", async () => {
    const { aggregator, file, settle } = await withHonestSidecar("aggregator-size", []);
    const before = await snapshot(aggregator);
    const raw = observe(
      (client(aggregator) as unknown as grpc.Client).makeBidiStreamRequest<Buffer, ShipResponse__Output>(
        SHIP_METHOD,
        (bytes) => bytes,
        () => ({}) as ShipResponse__Output,
      ),
    );
    raw.call.write(Buffer.alloc(MAX_MESSAGE_BYTES + 1));
    const status = await ended(raw);
    assert.equal(grpc.status[status.code], "RESOURCE_EXHAUSTED", status.details);
    // One byte less is read and decoded (zeros make an empty ShipRequest): the limit is the one in limits.ts.
    const atLimit = observe(
      (client(aggregator) as unknown as grpc.Client).makeBidiStreamRequest<Buffer, ShipResponse__Output>(
        SHIP_METHOD,
        (bytes) => bytes,
        () => ({}) as ShipResponse__Output,
      ),
    );
    atLimit.call.write(Buffer.alloc(MAX_MESSAGE_BYTES));
    const atLimitStatus = await ended(atLimit);
    assert.equal(grpc.status[atLimitStatus.code], "INVALID_ARGUMENT", atLimitStatus.details);
    assert.match(atLimitStatus.details, /neither hello nor batch/);
    assert.deepEqual(await snapshot(aggregator), before);
    fs.appendFileSync(file, "server3,deploy\n");
    await settle();
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), [
      ["server1|backup", 1],
      ["server2|cron", 1],
      ["server3|deploy", 1],
    ]);
  });

  it("refuses ingest streams beyond --max-ingest-streams with RESOURCE_EXHAUSTED; the honest sidecar keeps shipping", async () => {
    const { aggregator, file, settle } = await withHonestSidecar("aggregator-streams", ["--max-ingest-streams", "2"]);
    const ingest = client(aggregator);
    const second = observe(ingest.Ship());
    second.call.write(hello("second"));
    await answered(second, 1);
    const third = observe(ingest.Ship());
    third.call.write(hello("third"));
    const status = await ended(third);
    assert.equal(grpc.status[status.code], "RESOURCE_EXHAUSTED", status.details);
    assert.match(status.details, /at most 2 ingest streams/);
    fs.appendFileSync(file, "server1,backup\n".repeat(5));
    await settle();
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), [
      ["server1|backup", 6],
      ["server2|cron", 1],
    ]);
    // A stream that ends frees its place.
    second.call.end();
    assert.equal((await ended(second)).code, grpc.status.OK);
    const fourth = observe(ingest.Ship());
    fourth.call.write(hello("fourth"));
    await answered(fourth, 1);
    fourth.call.end();
  });

  it("ends a stream that says no Hello within --hello-timeout-ms, but never a sidecar waiting on an idle or missing file", async () => {
    const aggregator = track(await startAggregator(path.join(dir, "hello-state"), { name: "aggregator-hello", extraArgs: ["--hello-timeout-ms", "500"] }));
    const silent = observe(client(aggregator).Ship());
    const status = await ended(silent);
    assert.equal(grpc.status[status.code], "DEADLINE_EXCEEDED", status.details);
    assert.match(status.details, /no hello within 500 ms/);

    // The sidecar starts before its file exists, waits for it, then idles: far longer than the timeout each time.
    const file = path.join(dir, "idle.csv");
    const sidecar = track(
      startSidecar("sidecar-idle", { file, aggregator: aggregator.grpcAddress, sourceId: "idle", extraArgs: ["--metrics-listen", "127.0.0.1:0"] }),
    );
    const sidecarMetrics = `http://127.0.0.1:${String((await sidecar.waitForLog("metrics listening")).metricsPort)}/metrics`;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    fs.writeFileSync(file, "server1,backup\n");
    await waitUntilSettled(aggregator.grpcAddress, { idle: file });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    fs.appendFileSync(file, "server1,backup\nserver2,cron\n");
    await waitUntilSettled(aggregator.grpcAddress, { idle: file });
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), [
      ["server1|backup", 2],
      ["server2|cron", 1],
    ]);
    assert.equal(metricValue(await scrape(sidecarMetrics), "logtally_sidecar_reconnects_total"), 0, sidecar.dump());
    assert.equal(metricValue(await scrape(aggregator.metricsUrl), "logtally_ingest_errors_total", { code: "DEADLINE_EXCEEDED" }), 1, "only the silent stream");
    assert.equal(aggregator.logs.filter((line) => line.msg === "sidecar connected" && line.sourceId === "idle").length, 1);
  });

  it("ends a stream that keeps sending while leaving its answers unread with RESOURCE_EXHAUSTED", async () => {
    const aggregator = track(await startAggregator(path.join(dir, "unread-state"), { name: "aggregator-unread" }));
    const greedy = observe(client(aggregator).Ship());
    greedy.call.write(hello("greedy"));
    await answered(greedy, 1);
    const generation = greedy.answers[0]!.welcome!.generation;
    greedy.call.write(batch(generation, 1, 0, 100));
    await answered(greedy, 2);
    // Stop reading, then send the same (duplicate) batch again and again.
    greedy.call.pause();
    let sent = 0;
    let refused: grpc.StatusObject | undefined;
    void greedy.status.then((status) => (refused = status));
    while (!refused && sent < 20_000) {
      greedy.call.write(batch(generation, 2 + sent++, 0, 100));
      if (sent % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    greedy.call.resume();
    const status = await ended(greedy);
    assert.equal(grpc.status[status.code], "RESOURCE_EXHAUSTED", status.details);
    assert.match(status.details, /answers are still unread/);
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), [["server1|backup", 1]], "each duplicate changed nothing");
  });
});

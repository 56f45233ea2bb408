import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadLogtallyGrpc, type IngestHandlers, type ShipRequest__Output, type ShipResponse, type SourceStatus__Output } from "@logtally/proto";
import { IngestStream } from "../support/ingest-client";
import { LogWriter, fileSize } from "../support/log-writer";
import { scrape, metricValue } from "../support/metrics";
import { startAggregator, startSidecar } from "../support/processes";
import { QueryProbe } from "../support/query";
import { waitFor } from "../support/wait";

function tempDir(t: { after(fn: () => void): void }, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logtally-${name}-`));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function sourceNamed(probe: QueryProbe, sourceId: string): Promise<SourceStatus__Output | undefined> {
  return (await probe.listSources()).find((source) => source.sourceId === sourceId);
}

/**
 * Requirement: ListSources shows, per source, the file size its sidecar
 * reported and so the lag in bytes, which sidecars are connected, and when
 * one was last heard from; the lag is also served as
 * logtally_source_lag_bytes. Sidecars that report no size still work.
 */
test("the lag follows the reported file size and the committed offset", async (t) => {
  const dir = tempDir(t, "lag");
  const aggregator = await startAggregator(path.join(dir, "state"), { extraArgs: ["--heartbeat-interval-ms", "250"] });
  t.after(() => aggregator.stop("SIGKILL"));
  const probe = new QueryProbe(aggregator.grpcAddress);
  t.after(() => probe.close());
  const lagMetric = async (sourceId: string): Promise<number | undefined> =>
    metricValue(await scrape(aggregator.metricsUrl), "logtally_source_lag_bytes", { source_id: sourceId });

  const stream = await IngestStream.open(aggregator.grpcAddress, { sourceId: "simulated", sidecarId: "sim-1" });
  t.after(() => stream.close());
  assert.equal(Number(stream.welcome.heartbeatIntervalMillis), 250, "the Welcome tells the heartbeat interval");
  const connectedOnly = await sourceNamed(probe, "simulated");
  assert.deepEqual(
    [connectedOnly?.generation, connectedOnly?.connectedSidecarIds, connectedOnly?.fileSizeGeneration],
    ["", ["sim-1"], ""],
    "a source is listed while connected, before anything is counted",
  );

  const { generation } = stream.welcome;
  const batch = (startOffset: number, endOffset: number, fileSize: number) => ({
    sequence: endOffset,
    startOffset,
    endOffset,
    deltas: [{ host: "h", jobName: "j", count: 1 }],
    rows: 1,
    rejected: [],
    anchor: "",
    fileSize,
  });
  assert.equal((await stream.ship(batch(0, 100, 1000))).outcome, "APPLIED");
  let source = await sourceNamed(probe, "simulated");
  assert.deepEqual(
    [source?.committedOffset, source?.fileSize, source?.fileSizeGeneration, source?.lagBytes, source?.connectedSidecars],
    [100, 1000, generation, 900, 1],
  );
  assert.ok(Number(source?.lastHeartbeatUnixMillis) > 0);
  assert.equal(await lagMetric("simulated"), 900);

  // A heartbeat is not answered; its size shows once it has arrived.
  stream.heartbeat({ generation, fileSize: 1500 });
  await waitFor(async () => ((await sourceNamed(probe, "simulated"))?.lagBytes === 1400 ? true : undefined), {
    describe: () => "the heartbeat's size to show as a lag of 1400",
  });
  assert.equal(await lagMetric("simulated"), 1400);

  assert.equal((await stream.ship(batch(100, 1500, 1500))).outcome, "APPLIED");
  source = await sourceNamed(probe, "simulated");
  assert.deepEqual([source?.committedOffset, source?.fileSize, source?.lagBytes], [1500, 1500, 0]);
  assert.equal(await lagMetric("simulated"), 0);

  // A sidecar that reports no size (one from before file_size) is counted as ever; its lag is unknown.
  const legacy = await IngestStream.open(aggregator.grpcAddress, { sourceId: "legacy", sidecarId: "old" });
  t.after(() => legacy.close());
  const { fileSize: _none, ...withoutSize } = batch(0, 50, 0);
  assert.equal((await legacy.ship(withoutSize)).outcome, "APPLIED");
  const old = await sourceNamed(probe, "legacy");
  assert.deepEqual([old?.committedOffset, old?.fileSizeGeneration, old?.lagBytes], [50, "", 0]);
  assert.equal(await lagMetric("legacy"), undefined, "no lag series without a reported size");

  // A source that connects and leaves without a batch leaves nothing behind;
  // a counted one stays listed with nothing connected.
  const passing = await IngestStream.open(aggregator.grpcAddress, { sourceId: "passing", sidecarId: "p" });
  assert.ok(await sourceNamed(probe, "passing"));
  passing.close();
  stream.close();
  await waitFor(async () => ((await sourceNamed(probe, "passing")) === undefined ? true : undefined), {
    describe: () => "the source that never shipped to be forgotten",
  });
  source = await sourceNamed(probe, "simulated");
  assert.deepEqual([source?.connectedSidecars, source?.connectedSidecarIds, source?.lagBytes], [0, [], 0]);
});

test("a real sidecar: the partial last line is lag until completed, and heartbeats keep an idle source fresh", async (t) => {
  const dir = tempDir(t, "sidecar-lag");
  const aggregator = await startAggregator(path.join(dir, "state"), { extraArgs: ["--heartbeat-interval-ms", "200"] });
  t.after(() => aggregator.stop("SIGKILL"));
  const probe = new QueryProbe(aggregator.grpcAddress);
  t.after(() => probe.close());

  const writer = new LogWriter(path.join(dir, "log.csv"), 7);
  writer.append(300, { header: true });
  const partial = "server1,not-yet";
  fs.appendFileSync(writer.file, partial);
  const size = fileSize(writer.file);
  const sidecar = startSidecar("sidecar", { file: writer.file, aggregator: aggregator.grpcAddress, sourceId: "tail" });
  t.after(() => sidecar.stop("SIGKILL"));

  let last: SourceStatus__Output | undefined;
  const first = await waitFor(
    async () => {
      last = await sourceNamed(probe, "tail");
      return last && Number(last.committedOffset) === size - partial.length && Number(last.fileSize) === size ? last : undefined;
    },
    { describe: () => `the complete lines committed and the size reported (last: ${JSON.stringify(last)})\n${sidecar.dump()}` },
  );
  assert.equal(Number(first.lagBytes), partial.length, "the partial line is not counted yet");
  assert.equal(metricValue(await scrape(aggregator.metricsUrl), "logtally_source_lag_bytes", { source_id: "tail" }), partial.length);
  assert.deepEqual(first.connectedSidecarIds, ["sidecar"]);

  // Idle: no batch, yet last_heartbeat keeps moving.
  let heartbeat = Number(first.lastHeartbeatUnixMillis);
  for (let beat = 0; beat < 3; beat++) {
    const fresher = await waitFor(
      async () => {
        last = await sourceNamed(probe, "tail");
        return last && Number(last.lastHeartbeatUnixMillis) > heartbeat ? last : undefined;
      },
      { describe: () => `a heartbeat after ${heartbeat} (last: ${JSON.stringify(last)})\n${sidecar.dump()}` },
    );
    assert.equal(Number(fresher.lastSeenUnixMillis), Number(first.lastSeenUnixMillis), "no batch was shipped meanwhile");
    assert.equal(Number(fresher.committedOffset), Number(first.committedOffset));
    assert.equal(Number(fresher.lagBytes), partial.length);
    heartbeat = Number(fresher.lastHeartbeatUnixMillis);
  }

  fs.appendFileSync(writer.file, "\n");
  writer.count("server1", "not-yet");
  const caughtUp = await waitFor(
    async () => {
      last = await sourceNamed(probe, "tail");
      return last && Number(last.committedOffset) === size + 1 ? last : undefined;
    },
    { describe: () => `the completed line to be committed (last: ${JSON.stringify(last)})` },
  );
  assert.deepEqual([Number(caughtUp.fileSize), Number(caughtUp.lagBytes)], [size + 1, 0]);
  assert.equal(metricValue(await scrape(aggregator.metricsUrl), "logtally_source_lag_bytes", { source_id: "tail" }), 0);
  assert.equal(Number((await probe.getCounts({ host: "server1", jobName: "not-yet" }))[0]?.count), 1);
});

/**
 * Requirement: a sidecar sends heartbeats only to an aggregator that asks for
 * them, so it keeps working with one from before heartbeats, which ends a
 * stream on a message it does not know.
 */
test("a sidecar sends heartbeats only when the Welcome asks for them", async (t) => {
  for (const heartbeatIntervalMillis of [0, 100]) {
    const dir = tempDir(t, `heartbeat-${heartbeatIntervalMillis}`);
    const aggregator = await FakeAggregator.start(heartbeatIntervalMillis);
    t.after(() => aggregator.stop());
    const file = path.join(dir, "log.csv");
    fs.writeFileSync(file, "server1,backup\nserver2,cron\n");
    const sidecar = startSidecar(`sidecar-${heartbeatIntervalMillis}`, { file, aggregator: aggregator.address, sourceId: "compat" });
    t.after(() => sidecar.stop("SIGKILL"));
    await waitFor(() => (aggregator.acknowledged > 0 ? true : undefined), { describe: () => `a batch shipped\n${sidecar.dump()}` });
    if (heartbeatIntervalMillis > 0) {
      await waitFor(() => (aggregator.heartbeats.length >= 3 ? true : undefined), { describe: () => `heartbeats\n${sidecar.dump()}` });
      assert.ok(aggregator.heartbeats.every((heartbeat) => heartbeat.fileSize === fileSize(file) && heartbeat.generation === "compat-file#1"));
    } else {
      // Idle for many poll intervals (50 ms) of the sidecar.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.deepEqual(aggregator.heartbeats, []);
    }
    assert.equal(aggregator.streams, 1, `the stream was never broken\n${sidecar.dump()}`);
  }
});

/** An Ingest server that welcomes every file at offset 0, applies every batch, and records heartbeats. */
class FakeAggregator {
  readonly heartbeats: Array<{ generation: string; fileSize: number }> = [];
  acknowledged = 0;
  streams = 0;

  private constructor(
    private readonly server: grpc.Server,
    readonly address: string,
  ) {}

  static async start(heartbeatIntervalMillis: number): Promise<FakeAggregator> {
    const server = new grpc.Server();
    let fake: FakeAggregator | undefined;
    const handlers: IngestHandlers = {
      Ship: (call: grpc.ServerDuplexStream<ShipRequest__Output, ShipResponse>) => {
        fake!.streams++;
        call.on("data", (request: ShipRequest__Output) => {
          if (request.hello) {
            const { sourceId } = request.hello;
            call.write({
              welcome: { sourceId, fileId: request.hello.fileId, generation: "compat-file#1", committedOffset: 0, known: false, heartbeatIntervalMillis },
            });
          } else if (request.batch) {
            fake!.acknowledged++;
            const { sequence, generation, endOffset } = request.batch;
            call.write({ ack: { sequence, generation, outcome: "APPLIED", committedOffset: endOffset } });
          } else if (request.heartbeat) {
            fake!.heartbeats.push({ generation: request.heartbeat.generation, fileSize: Number(request.heartbeat.fileSize) });
          }
        });
        call.on("end", () => call.end());
      },
    };
    server.addService(loadLogtallyGrpc().logtally.v1.Ingest.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    fake = new FakeAggregator(server, `127.0.0.1:${port}`);
    return fake;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

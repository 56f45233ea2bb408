import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { IngestStream } from "../support/ingest-client";
import { startAggregator } from "../support/processes";

const REPO_ROOT = path.resolve(__dirname, "../..");
const STRICT_CLIENT = path.join(REPO_ROOT, "test/reflection/strict_reflection_client.py");
/** Debian's interpreter, the one with python3-grpcio and python3-protobuf. */
const DEBIAN_PYTHON = "/usr/bin/python3";
const STEP_TIMEOUT_MS = 15_000;

/** What strict_reflection_client.py prints (see the top of that script). */
interface StrictClientOutput {
  reflectionService: string;
  services: string[];
  files: string[];
  queryMethods: Array<{ name: string; clientStreaming: boolean; serverStreaming: boolean }>;
  called: string[];
  counts: PairCountJson[];
  filtered: { host: string; counts: PairCountJson[] } | null;
  pages: { pageSize: number; pages: PairCountJson[][]; totalSizes: number[]; tokens: string[] };
  madeUpToken: { code: string; details?: string };
  sources: Array<Record<string, unknown>>;
  metrics: Array<Record<string, unknown>>;
  watch: { snapshot: WatchCountsJson[]; changes: WatchCountsJson[] };
}

/** A PairCount in the proto3 JSON mapping: int64 as a string. */
interface PairCountJson {
  host: string;
  jobName: string;
  count: string;
}

/** A WatchCountsResponse in the proto3 JSON mapping. */
interface WatchCountsJson {
  counts: PairCountJson[];
  kind: string;
  snapshotComplete: boolean;
}

const batch = (sequence: number, startOffset: number, endOffset: number, deltas: Array<{ host: string; jobName: string; count: number }>) => ({
  sequence,
  startOffset,
  endOffset,
  deltas,
  rows: deltas.reduce((sum, delta) => sum + delta.count, 0),
  rejected: [],
  anchor: "",
  fileSize: 400,
});

/**
 * Requirement: a client that, like grpcurl, builds every type from reflection
 * alone and is strict about descriptors (a protobuf DescriptorPool) lists the
 * services and calls every Query method: GetCounts (filtered, paged, with a
 * bad token), ListSources, and the server-streaming WatchCounts.
 */
test("a strict reflection-only client lists the services and calls every Query method", async (t) => {
  const probe = spawnSync(DEBIAN_PYTHON, ["-c", "import grpc, google.protobuf"], { encoding: "utf8" });
  assert.equal(
    probe.status,
    0,
    `${DEBIAN_PYTHON} cannot import grpc and google.protobuf (install Debian's python3-grpcio and python3-protobuf): ${probe.error?.message ?? probe.stderr}`,
  );

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-reflection-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const aggregator = await startAggregator(dir);
  t.after(() => aggregator.stop("SIGKILL"));
  const address = aggregator.grpcAddress;

  const ingest = await IngestStream.open(address, { sourceId: "reflection-test", fileId: "1-abc", sidecarId: "reflected", timeoutMs: 60_000 });
  t.after(() => ingest.close());
  const ack = await ingest.ship(
    batch(1, 0, 100, [
      { host: "server1", jobName: "backup", count: 2 },
      { host: "server2", jobName: "cron", count: 1 },
      { host: "server3", jobName: "deploy", count: 4 },
    ]),
  );
  assert.equal(ack.outcome, "APPLIED");

  // The client reports its snapshot, then waits for one change: this batch.
  const output = await runStrictClient([address, "--host", "server1", "--page-size", "2", "--watch-changes", "1"], async (line) => {
    if (line !== "watch snapshot received") return;
    assert.equal((await ingest.ship(batch(2, 100, 200, [{ host: "server2", jobName: "cron", count: 5 }]))).outcome, "APPLIED");
  });

  for (const service of ["logtally.v1.Ingest", "logtally.v1.Query", "grpc.health.v1.Health"]) {
    assert.ok(output.services.includes(service), `${service} not listed: ${output.services.join(", ")}`);
  }
  assert.ok(
    output.services.some((service) => /^grpc\.reflection\.v1(alpha)?\.ServerReflection$/.test(service)),
    `no reflection service listed: ${output.services.join(", ")}`,
  );
  assert.deepEqual(output.queryMethods, [
    { name: "GetCounts", clientStreaming: false, serverStreaming: false },
    { name: "ListSources", clientStreaming: false, serverStreaming: false },
    { name: "WatchCounts", clientStreaming: false, serverStreaming: true },
    { name: "ListMetrics", clientStreaming: false, serverStreaming: false },
  ]);
  assert.deepEqual([...output.called].sort(), output.queryMethods.map((method) => method.name).sort(), "every Query method was called");

  const initial = [
    { host: "server1", jobName: "backup", count: "2" },
    { host: "server2", jobName: "cron", count: "1" },
    { host: "server3", jobName: "deploy", count: "4" },
  ];
  assert.deepEqual(output.counts, initial);
  assert.deepEqual(output.pages, { pageSize: 2, pages: [initial.slice(0, 2), initial.slice(2)], totalSizes: [3, 3], tokens: [output.pages.tokens[0], ""] });
  assert.notEqual(output.pages.tokens[0], "");
  assert.equal(output.madeUpToken.code, "INVALID_ARGUMENT", JSON.stringify(output.madeUpToken));
  assert.match(output.madeUpToken.details ?? "", /page_token is invalid/);

  assert.equal(output.sources.length, 1);
  assert.deepEqual(
    Object.fromEntries(
      ["sourceId", "generation", "committedOffset", "fileSize", "lagBytes", "connectedSidecars", "connectedSidecarIds"].map((key) => [
        key,
        output.sources[0]![key],
      ]),
    ),
    {
      sourceId: "reflection-test",
      generation: "1-abc#1",
      committedOffset: "100",
      fileSize: "400",
      lagBytes: "300",
      connectedSidecars: "1",
      connectedSidecarIds: ["reflected"],
    },
  );
  assert.ok(Number(output.sources[0]!.lastHeartbeatUnixMillis) > 0);

  assert.deepEqual(output.metrics, [
    {
      name: "log_host_job_count",
      labelNames: ["host", "job_name"],
      exposedAs: "log_host_job_count",
      type: "gauge",
      series: "3",
      maxSeries: output.metrics[0]?.maxSeries,
      rows: "7",
    },
  ]);

  assert.deepEqual(output.watch.snapshot, [{ kind: "SNAPSHOT", counts: initial, series: [], snapshotComplete: true }]);
  assert.deepEqual(output.watch.changes, [{ kind: "CHANGE", counts: [{ host: "server2", jobName: "cron", count: "6" }], series: [], snapshotComplete: false }]);
  // Asked after the watch: the change is counted.
  assert.deepEqual(output.filtered, { host: "server1", counts: [initial[0]] });
});

/**
 * Runs the Python client with Debian's interpreter, handing each stderr line
 * to `onStderrLine`; rejects with its stderr unless it exits 0.
 */
function runStrictClient(args: string[], onStderrLine: (line: string) => Promise<void>): Promise<StrictClientOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(DEBIAN_PYTHON, [STRICT_CLIENT, ...args, "--timeout-seconds", String(STEP_TIMEOUT_MS / 1000)], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: STEP_TIMEOUT_MS * 2,
    });
    let stdout = "";
    let stderr = "";
    let handling = Promise.resolve();
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    readline.createInterface({ input: child.stderr }).on("line", (line) => {
      stderr += `${line}\n`;
      handling = handling
        .then(() => onStderrLine(line))
        .catch((error: unknown) => {
          child.kill();
          reject(error);
        });
    });
    child.once("error", reject);
    child.once("close", (code, signal) => {
      if (code !== 0) {
        reject(new Error(`strict reflection client failed (${code ?? signal}):\n${stderr}${stdout}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as StrictClientOutput);
      } catch (error) {
        reject(new Error(`strict reflection client printed no JSON: ${stdout}`, { cause: error }));
      }
    });
  });
}

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { shipAsSidecar } from "./harness/ingest-client";
import { startAggregator } from "./harness/processes";

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
  counts: PairCountJson[];
  filtered: { host: string; counts: PairCountJson[] } | null;
}

/** A PairCount in the proto3 JSON mapping: int64 as a string. */
interface PairCountJson {
  host: string;
  jobName: string;
  count: string;
}

/**
 * Requirement: a client that, like grpcurl, builds every type from reflection
 * alone and is strict about descriptors (a protobuf DescriptorPool) lists the
 * services and calls Query/GetCounts.
 */
test("a strict reflection-only client lists the services and reads the counts", async (t) => {
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

  const { ack } = await shipAsSidecar(address, {
    sourceId: "reflection-test",
    fileId: "1-abc",
    batch: {
      sequence: 1,
      startOffset: 0,
      endOffset: 100,
      deltas: [
        { host: "server1", jobName: "backup", count: 2 },
        { host: "server2", jobName: "cron", count: 1 },
      ],
      rows: 3,
      rejected: [],
      anchor: "",
    },
  });
  assert.equal(ack?.outcome, "APPLIED");

  const output = await runStrictClient([address, "--host", "server1"]);
  for (const service of ["logtally.v1.Ingest", "logtally.v1.Query", "grpc.health.v1.Health"]) {
    assert.ok(output.services.includes(service), `${service} not listed: ${output.services.join(", ")}`);
  }
  assert.ok(
    output.services.some((service) => /^grpc\.reflection\.v1(alpha)?\.ServerReflection$/.test(service)),
    `no reflection service listed: ${output.services.join(", ")}`,
  );
  assert.deepEqual(output.counts, [
    { host: "server1", jobName: "backup", count: "2" },
    { host: "server2", jobName: "cron", count: "1" },
  ]);
  assert.deepEqual(output.filtered, { host: "server1", counts: [{ host: "server1", jobName: "backup", count: "2" }] });
});

/** Runs the Python client with Debian's interpreter; rejects with its stderr unless it exits 0. */
function runStrictClient(args: string[]): Promise<StrictClientOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(DEBIAN_PYTHON, [STRICT_CLIENT, ...args], { stdio: ["ignore", "pipe", "pipe"], timeout: STEP_TIMEOUT_MS * 2 });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
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

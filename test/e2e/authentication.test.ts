import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { healthCheck } from "../support/health";
import { shipAsSidecar } from "../support/ingest-client";
import { LogWriter } from "../support/log-writer";
import { scrape, metricValue } from "../support/metrics";
import { MountedSecret } from "../support/mounted-secret";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { QueryProbe, aggregatorCounts, sorted, waitUntilSettled, type ClientAccess } from "../support/query";
import { waitFor } from "../support/wait";

const FIRST_TOKEN = randomBytes(32).toString("base64");
const SECOND_TOKEN = randomBytes(32).toString("base64");
const GUESSED_TOKEN = randomBytes(32).toString("base64");

/** Calls carrying `authorization: <value>`. */
function presenting(value: string): ClientAccess {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", value);
  return { metadata };
}

const bearer = (token: string): ClientAccess => presenting(`Bearer ${token}`);

/** Says Hello as source `sourceId`; resolves "welcomed", or the gRPC status name the stream ended with. */
async function helloOutcome(address: string, sourceId: string, access: ClientAccess): Promise<string> {
  try {
    await shipAsSidecar(address, { sourceId, access });
    return "welcomed";
  } catch (error) {
    return grpc.status[(error as grpc.ServiceError).code] ?? String(error);
  }
}

/** Asks server reflection, without credentials, to list the services; resolves with the raw answer. */
function reflectionList(address: string): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      (bytes) => bytes,
      (bytes) => bytes,
    );
    call.once("data", (answer: Buffer) => {
      resolve(answer);
      call.cancel();
    });
    call.once("error", reject);
    // ServerReflectionRequest { list_services: "" } (field 7, length 0).
    call.write(Buffer.from([0x3a, 0x00]));
  }).finally(() => client.close());
}

/** `logtally_auth_failures_total` by "service/reason". */
async function authFailures(aggregator: AggregatorProcess): Promise<Record<string, number>> {
  const failures: Record<string, number> = {};
  for (const sample of await scrape(aggregator.metricsUrl)) {
    if (sample.name === "logtally_auth_failures_total") failures[`${sample.labels.service}/${sample.labels.reason}`] = sample.value;
  }
  return failures;
}

/**
 * Requirement: with --token-file, Ingest serves only calls that present one
 * of the tokens; anything else ends with UNAUTHENTICATED, is counted and
 * logged (never the token), and changes nothing, while honest sidecars keep
 * being served. Tokens rotate without a restart on either side. Query
 * requires the token only with --query-auth=token; health and reflection
 * never do.
 */
describe("authentication: the shared bearer token", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-auth-"));
  const aggregatorSecret = new MountedSecret(path.join(dir, "aggregator-secret"));
  const sidecarSecret = new MountedSecret(path.join(dir, "sidecar-secret"));
  const writer = new LogWriter(path.join(dir, "honest.csv"), 21);
  const processes: RunningProcess[] = [];
  const track = <P extends RunningProcess>(running: P): P => {
    processes.push(running);
    return running;
  };
  let aggregator: AggregatorProcess;
  let sidecar: RunningProcess;
  let sidecarMetricsUrl: string;

  const tokenArgs = ["--token-file", aggregatorSecret.file("token"), "--credentials-reload-ms", "200"];
  const settled = async (): Promise<void> => {
    await waitUntilSettled(aggregator.grpcAddress, { honest: writer.file });
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth));
  };

  before(async () => {
    aggregatorSecret.write({ token: `${FIRST_TOKEN}\n` });
    sidecarSecret.write({ token: `${FIRST_TOKEN}\n` });
    aggregator = track(await startAggregator(path.join(dir, "state"), { extraArgs: tokenArgs }));
    writer.append(300, { header: true });
    sidecar = track(
      startSidecar("sidecar-honest", {
        file: writer.file,
        aggregator: aggregator.grpcAddress,
        sourceId: "honest",
        extraArgs: ["--token-file", sidecarSecret.file("token"), "--metrics-listen", "127.0.0.1:0"],
      }),
    );
    sidecarMetricsUrl = `http://127.0.0.1:${String((await sidecar.waitForLog("metrics listening")).metricsPort)}/metrics`;
  });

  after(async () => {
    await Promise.all(processes.map((running) => running.stop("SIGKILL")));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("counts every row of a sidecar that presents the token, and Query stays open by default", async () => {
    assert.equal((await aggregator.waitForLog("aggregator started")).ingestCredentials, "token");
    // waitUntilSettled queries without credentials: Query is open.
    await settled();
  });

  it("refuses a missing, malformed or wrong token with UNAUTHENTICATED, counts and logs it, and changes nothing", async () => {
    const before = { counts: sorted(await aggregatorCounts(aggregator.metricsUrl)), failures: await authFailures(aggregator) };
    assert.deepEqual(before.failures, {});
    const attempts: Array<[ClientAccess, RegExp]> = [
      [{}, /missing credentials/],
      [presenting(FIRST_TOKEN), /malformed credentials/],
      [presenting(`Basic ${FIRST_TOKEN}`), /malformed credentials/],
      [bearer(GUESSED_TOKEN), /invalid token/],
    ];
    for (const [access, details] of attempts) {
      await assert.rejects(
        shipAsSidecar(aggregator.grpcAddress, {
          sourceId: "mallory",
          batch: { sequence: 1, startOffset: 0, endOffset: 10, deltas: [{ host: "evil", jobName: "job", count: 1 }], rows: 1, rejected: [], anchor: "" },
          access,
        }),
        (error: grpc.ServiceError) => error.code === grpc.status.UNAUTHENTICATED && details.test(error.details),
      );
    }
    assert.deepEqual(await authFailures(aggregator), {
      "logtally.v1.Ingest/missing_token": 1,
      "logtally.v1.Ingest/malformed_token": 2,
      "logtally.v1.Ingest/wrong_token": 1,
    });
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), before.counts);
    const probe = new QueryProbe(aggregator.grpcAddress);
    try {
      assert.deepEqual(
        (await probe.listSources()).map((source) => source.sourceId),
        ["honest"],
      );
    } finally {
      probe.close();
    }
    // Logged, at most once per reason in 10 s, and never with a token.
    const refusals = aggregator.logs.filter((line) => line.msg === "call refused: not authenticated");
    assert.deepEqual(refusals.map((line) => line.reason).sort(), ["malformed_token", "missing_token", "wrong_token"]);
    const logText = JSON.stringify(aggregator.logs);
    for (const token of [FIRST_TOKEN, GUESSED_TOKEN]) assert.ok(!logText.includes(token), "a token was logged");

    // The honest sidecar was never cut off.
    writer.append(200);
    await settled();
    assert.equal(metricValue(await scrape(sidecarMetricsUrl), "logtally_sidecar_reconnects_total"), 0);
  });

  it("takes a rotated token without a restart; the sidecar reads its token again when it reconnects", async () => {
    // Overlap: both tokens are accepted.
    aggregatorSecret.write({ token: `${FIRST_TOKEN}\n${SECOND_TOKEN}\n` });
    await waitFor(async () => ((await helloOutcome(aggregator.grpcAddress, "rotation", bearer(SECOND_TOKEN))) === "welcomed" ? true : undefined), {
      describe: () => "the second token to be accepted",
    });
    assert.equal(await helloOutcome(aggregator.grpcAddress, "rotation", bearer(FIRST_TOKEN)), "welcomed");
    sidecarSecret.write({ token: `${SECOND_TOKEN}\n` });
    // Only the second one from now on.
    aggregatorSecret.write({ token: `${SECOND_TOKEN}\n` });
    await waitFor(async () => ((await helloOutcome(aggregator.grpcAddress, "rotation", bearer(FIRST_TOKEN))) === "UNAUTHENTICATED" ? true : undefined), {
      describe: () => "the first token to be refused",
    });
    assert.equal(await helloOutcome(aggregator.grpcAddress, "rotation", bearer(SECOND_TOKEN)), "welcomed");
    assert.equal(aggregator.logs.filter((line) => line.msg === "aggregator started").length, 1, "no restart");

    // A restart makes the sidecar reconnect: it must present the token it reads now.
    const port = aggregator.grpcPort;
    assert.equal((await aggregator.stop("SIGTERM")).code, 0, aggregator.dump());
    aggregator = track(await startAggregator(path.join(dir, "state"), { name: "aggregator-restarted", grpcPort: port, extraArgs: tokenArgs }));
    writer.append(250);
    await settled();
    assert.deepEqual(await authFailures(aggregator), {}, "the sidecar never presented the old token");
  });

  it("with --query-auth=token, Query requires the token while health and reflection stay open", async () => {
    const guarded = track(
      await startAggregator(path.join(dir, "state-guarded"), { name: "aggregator-guarded", extraArgs: [...tokenArgs, "--query-auth", "token"] }),
    );
    const query = async (access: ClientAccess): Promise<string> => {
      const probe = new QueryProbe(guarded.grpcAddress, access);
      try {
        await probe.getCounts();
        return "answered";
      } catch (error) {
        return grpc.status[(error as grpc.ServiceError).code] ?? String(error);
      } finally {
        probe.close();
      }
    };
    assert.equal(await query({}), "UNAUTHENTICATED");
    assert.equal(await query(bearer(GUESSED_TOKEN)), "UNAUTHENTICATED");
    assert.equal(await query(bearer(SECOND_TOKEN)), "answered");
    assert.deepEqual(await authFailures(guarded), { "logtally.v1.Query/missing_token": 1, "logtally.v1.Query/wrong_token": 1 });
    for (const service of ["", "logtally.v1.Ingest", "logtally.v1.Query"]) assert.equal(await healthCheck(guarded.grpcAddress, service), "SERVING");
    assert.ok((await reflectionList(guarded.grpcAddress)).includes("logtally.v1.Query"), "reflection lists the services");
    // And the aggregator with the default (open) answers Query without a token.
    const probe = new QueryProbe(aggregator.grpcAddress);
    try {
      assert.ok((await probe.getCounts()).length > 0);
    } finally {
      probe.close();
    }
  });
});

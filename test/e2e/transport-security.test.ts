import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { TestCertificateAuthority, fingerprintOf, type CertificateFiles } from "../support/certificates";
import { LogWriter } from "../support/log-writer";
import { MountedSecret } from "../support/mounted-secret";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { QueryProbe, aggregatorCounts, sorted, waitUntilSettled, type ClientAccess } from "../support/query";
import { waitFor } from "../support/wait";

/** The name the aggregator's certificates carry, as in Kubernetes; the tests connect to 127.0.0.1. */
const SERVER_NAME = "logtally-aggregator.logtally.svc";

/** A client that trusts `ca` and checks the server for SERVER_NAME, presenting `client` if given. */
function tlsAccess(ca: TestCertificateAuthority, client?: CertificateFiles): ClientAccess {
  const credentials = client
    ? grpc.credentials.createSsl(fs.readFileSync(ca.certFile), fs.readFileSync(client.keyFile), fs.readFileSync(client.certFile))
    : grpc.credentials.createSsl(fs.readFileSync(ca.certFile));
  return { credentials, options: { "grpc.ssl_target_name_override": SERVER_NAME } };
}

/** ListSources through a fresh channel; resolves with the number of sources, or rejects with the gRPC error. */
async function listSources(address: string, access: ClientAccess): Promise<number> {
  const probe = new QueryProbe(address, access);
  try {
    return (await probe.listSources()).length;
  } finally {
    probe.close();
  }
}

/** Asserts that a call through a fresh channel fails with UNAVAILABLE (the connection was refused). */
async function assertRefused(address: string, access: ClientAccess, who: string): Promise<void> {
  await assert.rejects(listSources(address, access), (error: grpc.ServiceError) => {
    assert.equal(grpc.status[error.code], "UNAVAILABLE", `${who}: ${error.details}`);
    return true;
  });
}

/** The certificate a new TLS connection to the aggregator is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: SERVER_NAME, ALPNProtocols: ["h2"], rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once("error", reject);
  });
}

/**
 * Requirement: gRPC over TLS between real sidecars and a real aggregator,
 * counts exact; plaintext or untrusted clients refused; with mutual TLS, only
 * clients whose certificate the configured CA signed get in; a renewed
 * certificate is served without a restart.
 */
describe("transport security: TLS and mutual TLS", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-tls-"));
  const ca = new TestCertificateAuthority(path.join(dir, "pki"), "logtally-ca");
  const otherCa = new TestCertificateAuthority(path.join(dir, "pki-other"), "other-ca");
  const processes: RunningProcess[] = [];
  const track = <P extends RunningProcess>(running: P): P => {
    processes.push(running);
    return running;
  };

  after(async () => {
    await Promise.all(processes.map((running) => running.stop("SIGKILL")));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** An aggregator serving `server` over TLS, with `extraArgs`. */
  const tlsAggregator = (name: string, server: CertificateFiles, extraArgs: string[] = []): Promise<AggregatorProcess> =>
    startAggregator(path.join(dir, `${name}-state`), { name, extraArgs: ["--tls-cert", server.certFile, "--tls-key", server.keyFile, ...extraArgs] }).then(
      track,
    );

  it("ships over TLS and counts every row exactly once; plaintext and untrusting clients are refused", async () => {
    const aggregator = await tlsAggregator("aggregator-tls", ca.issueServer("server-tls", SERVER_NAME));
    assert.equal((await aggregator.waitForLog("aggregator started")).transport, "tls");
    const writer = new LogWriter(path.join(dir, "tls.csv"), 11);
    writer.append(400, { header: true });
    track(
      startSidecar("sidecar-tls", {
        file: writer.file,
        aggregator: aggregator.grpcAddress,
        sourceId: "tls",
        extraArgs: ["--tls-ca", ca.certFile, "--tls-server-name", SERVER_NAME],
      }),
    );
    writer.append(300);
    await waitUntilSettled(aggregator.grpcAddress, { tls: writer.file }, 60_000, tlsAccess(ca));
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth));

    assert.equal(await listSources(aggregator.grpcAddress, tlsAccess(ca)), 1, "a client trusting the CA gets in");
    await assertRefused(aggregator.grpcAddress, {}, "a plaintext client");
    await assertRefused(aggregator.grpcAddress, tlsAccess(otherCa), "a client trusting another CA");
    const byOtherName = `localhost:${aggregator.grpcPort}`;
    await assertRefused(byOtherName, { credentials: grpc.credentials.createSsl(fs.readFileSync(ca.certFile)) }, "a client checking for another name");
  });

  it("with mutual TLS, only clients presenting a certificate signed by the client CA get in", async () => {
    const aggregator = await tlsAggregator("aggregator-mtls", ca.issueServer("server-mtls", SERVER_NAME), ["--tls-client-ca", ca.certFile]);
    assert.equal((await aggregator.waitForLog("aggregator started")).transport, "mutual-tls");
    const sidecarCert = ca.issueClient("sidecar-client", "sidecar");
    const writer = new LogWriter(path.join(dir, "mtls.csv"), 12);
    writer.append(500);
    track(
      startSidecar("sidecar-mtls", {
        file: writer.file,
        aggregator: aggregator.grpcAddress,
        sourceId: "mtls",
        extraArgs: ["--tls-ca", ca.certFile, "--tls-server-name", SERVER_NAME, "--tls-cert", sidecarCert.certFile, "--tls-key", sidecarCert.keyFile],
      }),
    );
    const operator = tlsAccess(ca, ca.issueClient("operator-client", "operator"));
    await waitUntilSettled(aggregator.grpcAddress, { mtls: writer.file }, 60_000, operator);
    const counted = sorted(await aggregatorCounts(aggregator.metricsUrl));
    assert.deepEqual(counted, sorted(writer.truth));

    await assertRefused(aggregator.grpcAddress, tlsAccess(ca), "a client without a certificate");
    await assertRefused(aggregator.grpcAddress, tlsAccess(ca, otherCa.issueClient("rogue-client", "sidecar")), "a client whose certificate another CA signed");
    await assertRefused(aggregator.grpcAddress, {}, "a plaintext client");
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), counted);
    assert.equal(await listSources(aggregator.grpcAddress, operator), 1);
  });

  it("serves a renewed certificate to new connections without a restart, while the sidecar keeps shipping", async () => {
    const secret = new MountedSecret(path.join(dir, "secret"));
    const first = ca.issueServer("server-first", SERVER_NAME);
    const renewed = ca.issueServer("server-renewed", SERVER_NAME);
    secret.write({ "tls.crt": fs.readFileSync(first.certFile), "tls.key": fs.readFileSync(first.keyFile) });
    const aggregator = await tlsAggregator("aggregator-rotation", { certFile: secret.file("tls.crt"), keyFile: secret.file("tls.key") }, [
      "--credentials-reload-ms",
      "200",
    ]);
    assert.equal(await servedFingerprint(aggregator.grpcPort), fingerprintOf(first.certFile));
    const writer = new LogWriter(path.join(dir, "rotation.csv"), 13);
    writer.append(200);
    track(
      startSidecar("sidecar-rotation", {
        file: writer.file,
        aggregator: aggregator.grpcAddress,
        sourceId: "rotation",
        extraArgs: ["--tls-ca", ca.certFile, "--tls-server-name", SERVER_NAME],
      }),
    );
    await waitUntilSettled(aggregator.grpcAddress, { rotation: writer.file }, 60_000, tlsAccess(ca));

    secret.write({ "tls.crt": fs.readFileSync(renewed.certFile), "tls.key": fs.readFileSync(renewed.keyFile) });
    const expected = fingerprintOf(renewed.certFile);
    let served = "";
    await waitFor(async () => ((served = await servedFingerprint(aggregator.grpcPort)) === expected ? true : undefined), {
      timeoutMs: 15_000,
      describe: () => `the renewed certificate to be served (still ${served})\n${aggregator.dump()}`,
    });
    assert.equal(await listSources(aggregator.grpcAddress, tlsAccess(ca)), 1, "a new client verifies the renewed certificate");
    writer.append(300);
    await waitUntilSettled(aggregator.grpcAddress, { rotation: writer.file }, 60_000, tlsAccess(ca));
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth));
    assert.equal(aggregator.child.exitCode, null, "the aggregator was not restarted");
    assert.equal(aggregator.logs.filter((line) => line.msg === "aggregator started").length, 1);
    assert.ok(
      aggregator.logs.some((line) => line.msg === "credentials reloaded"),
      aggregator.dump(),
    );
  });
});

import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { SourcedCertificateProvider, openCaFile, openIdentityFiles } from "./certificate-files";
import { CredentialFileError } from "./credential-files";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-certificates-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: "silent" });

/** A self-signed P-256 certificate and its key, with the openssl CLI. */
function selfSigned(name: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-days",
      "1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { certFile, keyFile };
}

const first = selfSigned("first");
const second = selfSigned("second");

test("an identity is a certificate and its own key; a CA file holds certificates", () => {
  assert.equal(openIdentityFiles(first.certFile, first.keyFile, log).current().certificate.toString(), fs.readFileSync(first.certFile, "utf8"));
  assert.throws(
    () => openIdentityFiles(first.certFile, second.keyFile, log),
    (error: unknown) => error instanceof CredentialFileError && /not a PEM certificate and its private key/.test(error.message),
  );
  assert.ok(openCaFile(first.certFile, log).current().length > 0);
  assert.throws(
    () => openCaFile(first.keyFile, log),
    (error: unknown) => error instanceof CredentialFileError && error.path === first.keyFile && /holds no PEM certificate/.test(error.message),
  );
});

test("the provider hands grpc-js the current certificates when a listener is added, then each change", async () => {
  const certFile = path.join(dir, "live.crt");
  const keyFile = path.join(dir, "live.key");
  fs.copyFileSync(first.certFile, certFile);
  fs.copyFileSync(first.keyFile, keyFile);
  const identity = openIdentityFiles(certFile, keyFile, log);
  const ca = openCaFile(first.certFile, log);
  const provider = new SourcedCertificateProvider({ identity, ca });
  const identities: string[] = [];
  const cas: string[] = [];
  const onIdentity = (update: { certificate: Buffer } | null) => identities.push(update?.certificate.toString() ?? "none");
  provider.addIdentityCertificateListener(onIdentity);
  provider.addCaCertificateListener((update) => cas.push(update?.caCertificate.toString() ?? "none"));
  await new Promise((resolve) => process.nextTick(resolve));
  assert.deepEqual(identities, [fs.readFileSync(first.certFile, "utf8")]);
  assert.deepEqual(cas, [fs.readFileSync(first.certFile, "utf8")]);

  fs.copyFileSync(second.certFile, certFile);
  assert.equal(await identity.reload(), false, "a certificate without its key is not handed over");
  fs.copyFileSync(second.keyFile, keyFile);
  assert.equal(await identity.reload(), true);
  assert.deepEqual(identities, [fs.readFileSync(first.certFile, "utf8"), fs.readFileSync(second.certFile, "utf8")]);
  provider.removeIdentityCertificateListener(onIdentity);
  fs.copyFileSync(first.certFile, certFile);
  fs.copyFileSync(first.keyFile, keyFile);
  await identity.reload();
  assert.equal(identities.length, 2, "a removed listener hears nothing more");
});

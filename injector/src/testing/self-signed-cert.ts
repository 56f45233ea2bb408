import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** A throwaway certificate for `localhost` and 127.0.0.1, and its key, as files and PEM text. */
export interface SelfSignedCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
}

/** Makes a self-signed P-256 certificate (no CA) valid for a day in `dir`, with the openssl CLI. */
export function makeSelfSignedCert(dir: string): SelfSignedCert {
  const certFile = path.join(dir, "tls.crt");
  const keyFile = path.join(dir, "tls.key");
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
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-days",
      "1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { certFile, keyFile, certPem: fs.readFileSync(certFile, "utf8") };
}

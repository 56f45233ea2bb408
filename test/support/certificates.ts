import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** A PEM certificate and its private key, as files. */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

const NEW_P256_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"];

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * A throwaway certificate authority in `dir`, made with the openssl CLI,
 * that issues server and client certificates valid for a day.
 */
export class TestCertificateAuthority {
  readonly certFile: string;
  private readonly keyFile: string;

  constructor(
    private readonly dir: string,
    readonly name: string,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.certFile = path.join(dir, `${name}.crt`);
    this.keyFile = path.join(dir, `${name}.key`);
    openssl([
      "req",
      "-x509",
      ...NEW_P256_KEY,
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      this.keyFile,
      "-out",
      this.certFile,
    ]);
  }

  /** A server certificate for `dnsName` only (no IP address), named `file` in the CA's directory. */
  issueServer(file: string, dnsName: string): CertificateFiles {
    return this.issue(file, dnsName, [`subjectAltName=DNS:${dnsName}`, "extendedKeyUsage=serverAuth"]);
  }

  /** A client certificate for `commonName`, named `file` in the CA's directory. */
  issueClient(file: string, commonName: string): CertificateFiles {
    return this.issue(file, commonName, ["extendedKeyUsage=clientAuth"]);
  }

  private issue(file: string, commonName: string, extensions: string[]): CertificateFiles {
    const certFile = path.join(this.dir, `${file}.crt`);
    const keyFile = path.join(this.dir, `${file}.key`);
    openssl([
      "req",
      "-x509",
      ...NEW_P256_KEY,
      "-subj",
      `/CN=${commonName}`,
      "-CA",
      this.certFile,
      "-CAkey",
      this.keyFile,
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      ...extensions.flatMap((extension) => ["-addext", extension]),
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ]);
    return { certFile, keyFile };
  }
}

/** The SHA-256 fingerprint of a PEM certificate file, as `getPeerCertificate().fingerprint256` formats it. */
export function fingerprintOf(certFile: string): string {
  return new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}

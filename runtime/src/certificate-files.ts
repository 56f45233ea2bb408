import * as tls from "node:tls";
import type { experimental } from "@grpc/grpc-js";
import { CredentialFiles, fixedCredential, type CredentialSource } from "./credential-files";
import type { Logger } from "./logger";

type CertificateProvider = experimental.CertificateProvider;
type CaListener = Parameters<CertificateProvider["addCaCertificateListener"]>[0];
type IdentityListener = Parameters<CertificateProvider["addIdentityCertificateListener"]>[0];

/** A certificate chain and its private key, PEM. */
export interface TlsIdentity {
  readonly certificate: Buffer;
  readonly privateKey: Buffer;
}

/**
 * A certificate (chain) and its key read from two files, checked to be a
 * matching pair each time they are read. Throws CredentialFileError when they
 * are not.
 */
export function openIdentityFiles(certFile: string, keyFile: string, log: Logger): CredentialFiles<TlsIdentity> {
  return new CredentialFiles(
    [certFile, keyFile],
    ([certificate, privateKey]) => {
      try {
        tls.createSecureContext({ cert: certificate, key: privateKey });
      } catch (error) {
        throw new Error(`not a PEM certificate and its private key: ${(error as Error).message}`);
      }
      return { certificate: certificate!, privateKey: privateKey! };
    },
    log,
  );
}

/** PEM CA certificates read from a file, checked to hold at least one. Throws CredentialFileError when not. */
export function openCaFile(caFile: string, log: Logger): CredentialFiles<Buffer> {
  return new CredentialFiles(
    [caFile],
    ([bundle]) => {
      if (!bundle!.includes("-----BEGIN CERTIFICATE-----")) throw new Error("holds no PEM certificate");
      try {
        tls.createSecureContext({ ca: bundle });
      } catch (error) {
        throw new Error(`not PEM CA certificates: ${(error as Error).message}`);
      }
      return bundle!;
    },
    log,
  );
}

/** The system's trusted root certificates, as one PEM bundle. */
export function systemRootCertificates(): CredentialSource<Buffer> {
  return fixedCredential(Buffer.from(tls.rootCertificates.join("\n")));
}

/**
 * Hands grpc-js the certificates of credential sources, and each valid change
 * to them, so that new TLS handshakes use renewed certificates without a
 * restart (connections already open keep theirs). Used by
 * `ServerCredentials.createCertificateProviderServerCredentials` and
 * `credentials.createCertificateProviderChannelCredentials`.
 *
 * grpc-js's own FileWatcherCertificateProvider does not fit: it reads the
 * files only once a server binds (so missing files are not noticed at start),
 * and an unreadable read (a Secret mid-update) makes the server drop every new
 * connection until the next read. The sources here keep the last valid
 * certificates instead.
 */
export class SourcedCertificateProvider implements CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(private readonly sources: { readonly identity?: CredentialSource<TlsIdentity>; readonly ca?: CredentialSource<Buffer> }) {
    sources.identity?.onChange((identity) => {
      for (const listener of this.identityListeners) listener({ ...identity });
    });
    sources.ca?.onChange((caCertificate) => {
      for (const listener of this.caListeners) listener({ caCertificate });
    });
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const ca = this.sources.ca?.current();
    // grpc-js expects the first update after the listener is added, as its own providers do.
    process.nextTick(() => listener(ca ? { caCertificate: ca } : null));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const identity = this.sources.identity?.current();
    process.nextTick(() => listener(identity ? { ...identity } : null));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

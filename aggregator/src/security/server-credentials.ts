import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@logtally/runtime";
import { SourcedCertificateProvider, openCaFile, openIdentityFiles, type CredentialFiles } from "@logtally/runtime";
import type { ServerTlsFiles } from "../config";

/** The gRPC server's transport credentials, and the files to read again as they change. */
export interface ServerTransport {
  readonly credentials: grpc.ServerCredentials;
  /** Reloaded by the aggregator while it runs; empty for plaintext. */
  readonly files: ReadonlyArray<CredentialFiles<unknown>>;
}

/**
 * Plaintext without `tls`; otherwise TLS whose certificate is taken again
 * from its files when they change (new handshakes get the new one), and, with
 * a client CA, mutual TLS: a client without a certificate signed by that CA
 * fails the handshake. Reads the files now: throws CredentialFileError naming
 * one that is unusable.
 */
export function createServerTransport(tls: ServerTlsFiles | undefined, log: Logger): ServerTransport {
  if (!tls) return { credentials: grpc.ServerCredentials.createInsecure(), files: [] };
  const identity = openIdentityFiles(tls.certFile, tls.keyFile, log);
  const clientCa = tls.clientCaFile === undefined ? undefined : openCaFile(tls.clientCaFile, log);
  const identityProvider = new SourcedCertificateProvider({ identity });
  const clientCaProvider = clientCa && new SourcedCertificateProvider({ ca: clientCa });
  // grpc-js 1.14 declares this function's first two parameters in the wrong
  // order: the first is the identity provider, the second the CA provider
  // (as its class constructor takes them).
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(identityProvider, clientCaProvider ?? null, clientCaProvider !== undefined);
  return { credentials, files: clientCa ? [identity, clientCa] : [identity] };
}

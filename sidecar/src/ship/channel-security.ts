import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@logtally/runtime";
import { SourcedCertificateProvider, openCaFile, openIdentityFiles, systemRootCertificates, type CredentialFiles } from "@logtally/runtime";
import type { ClientTlsConfig } from "../config";

/** How the sidecar's channel to the aggregator is secured, and the files to read again as they change. */
export interface ChannelSecurity {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
  /** Reloaded while the sidecar runs; empty for plaintext. */
  readonly files: ReadonlyArray<CredentialFiles<unknown>>;
}

/**
 * Plaintext without `tls`; otherwise TLS that trusts `caFile` (or the
 * system's roots), checks the aggregator's certificate for `serverName` (or
 * the address's host) and, for mutual TLS, presents a client certificate.
 * Certificates are taken again from their files when they change: each new
 * connection uses the current ones. Reads the files now: throws
 * CredentialFileError naming one that is unusable.
 */
export function createChannelSecurity(tls: ClientTlsConfig | undefined, log: Logger): ChannelSecurity {
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {}, files: [] };
  const ca = tls.caFile === undefined ? undefined : openCaFile(tls.caFile, log);
  const identity = tls.identity && openIdentityFiles(tls.identity.certFile, tls.identity.keyFile, log);
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(
    new SourcedCertificateProvider({ ca: ca ?? systemRootCertificates() }),
    identity ? new SourcedCertificateProvider({ identity }) : null,
  );
  const options: grpc.ChannelOptions = tls.serverName === undefined ? {} : { "grpc.ssl_target_name_override": tls.serverName };
  return { credentials, options, files: [ca, identity].filter((files) => files !== undefined) };
}

import * as grpc from "@grpc/grpc-js";
import { AUTHORIZATION_METADATA_KEY, bearerAuthorization, parseTokenFile } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import { CredentialFiles } from "@logtally/runtime";

/**
 * The metadata each new Ingest stream opens with: `authorization: Bearer
 * <token>`, the token being the first line of `--token-file`, read at start
 * (throws CredentialFileError when it is unusable) and again before every new
 * stream, so that a rotated token is used from the next reconnect on. When
 * the file cannot be read then, the token read last is sent.
 */
export class TokenMetadata {
  private readonly tokenFile: CredentialFiles<string[]> | undefined;

  /** Without a file, streams open with empty metadata. */
  constructor(file: string | undefined, log: Logger) {
    this.tokenFile = file === undefined ? undefined : new CredentialFiles([file], ([contents]) => parseTokenFile(contents!), log);
  }

  /** The metadata for a stream about to open. */
  async forNewStream(): Promise<grpc.Metadata> {
    const metadata = new grpc.Metadata();
    if (!this.tokenFile) return metadata;
    await this.tokenFile.reload();
    metadata.set(AUTHORIZATION_METADATA_KEY, bearerAuthorization(this.tokenFile.current()[0]!));
    return metadata;
  }
}

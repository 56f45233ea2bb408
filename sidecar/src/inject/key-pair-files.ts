import * as fs from "node:fs/promises";
import * as tls from "node:tls";
import type { Logger } from "@logtally/proto";

/** A PEM certificate (chain) and its private key. */
export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Re-reads a certificate and key from their files at an interval and hands
 * over each new pair that is valid. Kubernetes updates a mounted Secret by
 * swapping a symlink, which file watches miss; reading is cheap and sure. A
 * pair caught half-written, or otherwise invalid, is logged and skipped: the
 * pair in use stays until a valid one appears.
 */
export class KeyPairFiles {
  private timer: NodeJS.Timeout | undefined;
  private current: KeyPair;
  private rejected: KeyPair | undefined;

  constructor(
    private readonly files: { readonly cert: string; readonly key: string },
    initial: KeyPair,
    private readonly onChange: (pair: KeyPair) => void,
    private readonly log: Logger,
  ) {
    this.current = initial;
  }

  /** Starts checking every `intervalMs`. */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the files once; resolves after a change, if any, was handed over. */
  async check(): Promise<void> {
    let pair: KeyPair;
    try {
      pair = { cert: await fs.readFile(this.files.cert), key: await fs.readFile(this.files.key) };
    } catch (error) {
      this.log.warn({ err: error, ...this.files }, "cannot read the certificate files: keeping the certificate in use");
      return;
    }
    if (samePair(pair, this.current) || (this.rejected && samePair(pair, this.rejected))) return;
    try {
      tls.createSecureContext(pair);
    } catch (error) {
      this.rejected = pair;
      this.log.warn({ err: error, ...this.files }, "the certificate files are not a valid pair: keeping the certificate in use");
      return;
    }
    this.current = pair;
    this.rejected = undefined;
    this.onChange(pair);
    this.log.info(this.files, "certificate reloaded");
  }
}

function samePair(a: KeyPair, b: KeyPair): boolean {
  return a.cert.equals(b.cert) && a.key.equals(b.key);
}

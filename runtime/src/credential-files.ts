import * as fs from "node:fs";
import type { Logger } from "./logger";

/**
 * Credential files that cannot be used: unreadable, or not holding what they
 * must. The message names the file and never quotes its contents. Programs
 * log it and exit 1.
 */
export class CredentialFileError extends Error {
  override readonly name = "CredentialFileError";
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Turns the contents of the files, in the order they were named, into a
 * credential. Throws an Error saying what is wrong, without quoting the
 * contents (they are secrets).
 */
export type CredentialParser<T> = (contents: readonly Buffer[]) => T;

/** Where a credential comes from: its value now, and every change to it. */
export interface CredentialSource<T> {
  current(): T;
  /** Calls `listener` with each new value; returns the function that stops it. */
  onChange(listener: (value: T) => void): () => void;
}

/** A credential that never changes (the system's root certificates, say). */
export function fixedCredential<T>(value: T): CredentialSource<T> {
  return { current: () => value, onChange: () => () => undefined };
}

/**
 * A credential kept in files (a bearer token, a certificate and its key, a CA
 * bundle): read once when constructed, then again on `reload()` or every
 * `intervalMs` after `start()`. Kubernetes updates a mounted Secret by
 * swapping a symlink, which file watches miss; reading again is cheap and
 * sure. Files that cannot be read, or whose contents do not parse (a pair
 * caught half-written), are logged once and skipped: the last valid value
 * stays in use until a valid one appears.
 */
export class CredentialFiles<T> implements CredentialSource<T> {
  private value: T;
  private contents: readonly Buffer[];
  /** Contents refused last, so that the same bad files are not logged again and again. */
  private refused: readonly Buffer[] | undefined;
  private lastReadProblem: string | undefined;
  private reading: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(value: T) => void>();

  /**
   * Reads the files now. Throws CredentialFileError naming the file when one
   * cannot be read or the contents do not parse: a program must not start
   * without the credentials it was given.
   */
  constructor(
    readonly files: readonly string[],
    private readonly parse: CredentialParser<T>,
    private readonly log: Logger,
  ) {
    const contents = files.map((file) => {
      try {
        return fs.readFileSync(file);
      } catch (cause) {
        throw new CredentialFileError(`cannot read ${file}: ${(cause as Error).message}`, file, { cause });
      }
    });
    try {
      this.value = parse(contents);
    } catch (cause) {
      throw new CredentialFileError(`${files.join(" and ")}: ${(cause as Error).message}`, files[0] ?? "", { cause });
    }
    this.contents = contents;
  }

  /** The last valid value. */
  current(): T {
    return this.value;
  }

  onChange(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the files again; resolves true when they held a new valid value (listeners have been called). */
  reload(): Promise<boolean> {
    this.reading ??= this.readAgain().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Reloads every `intervalMs` until stop(). Idempotent; the timer does not hold the process open. */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => void this.reload(), intervalMs);
    this.timer.unref();
  }

  /** Stops reloading at an interval. Idempotent. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async readAgain(): Promise<boolean> {
    let contents: Buffer[];
    try {
      contents = await Promise.all(this.files.map((file) => fs.promises.readFile(file)));
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== this.lastReadProblem) this.log.warn({ files: this.files, err: problem }, "cannot read credential files: keeping the credentials in use");
      this.lastReadProblem = problem;
      return false;
    }
    this.lastReadProblem = undefined;
    if (sameContents(contents, this.contents) || (this.refused && sameContents(contents, this.refused))) return false;
    let value: T;
    try {
      value = this.parse(contents);
    } catch (error) {
      this.refused = contents;
      this.log.warn({ files: this.files, err: (error as Error).message }, "credential files are not valid: keeping the credentials in use");
      return false;
    }
    this.value = value;
    this.contents = contents;
    this.refused = undefined;
    this.log.info({ files: this.files }, "credentials reloaded");
    for (const listener of [...this.listeners]) listener(value);
    return true;
  }
}

function sameContents(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((buffer, index) => buffer.equals(b[index]!));
}

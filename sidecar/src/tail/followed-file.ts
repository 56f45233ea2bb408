import { hash } from "node:crypto";
import { fstatSync, readSync, statSync } from "node:fs";
import * as fs from "node:fs/promises";
import { isLocalFileSystem } from "./file-system";

/** Bytes before an offset that its anchor checksums. */
export const ANCHOR_WINDOW_BYTES = 64;

/** Longest first line used for a file's identity. */
export const IDENTITY_HEAD_BYTES = 4096;

/**
 * Checksum of a file's bytes just before an offset: how a rewrite in place is
 * noticed. Taken for every batch, so with the one-shot hash(): no Hash
 * object to set up and throw away each time.
 */
export function anchorOf(bytes: Uint8Array): string {
  return bytes.length === 0 ? "" : hash("sha256", bytes, "hex").slice(0, 32);
}

/**
 * One log file held open by descriptor and read by byte offset. Holding the
 * descriptor is what lets a rotated file (renamed, even deleted) be drained to
 * its end before the sidecar moves on.
 *
 * A file on a local file system is read synchronously: such a read returns
 * from the page cache or the local disk, and going through libuv's thread
 * pool would cost two thread wake-ups for each, the larger part of what a
 * small read costs. A file on a network file system is read through the pool,
 * so that a server that stops answering blocks the read, not the process.
 */
export class FollowedFile {
  private closed = false;

  private constructor(
    private readonly handle: fs.FileHandle,
    /** Path the file had when opened; it may have been renamed since. */
    readonly openedAs: string,
    /** Inode number: the file's identity while it exists. */
    readonly ino: number,
    /**
     * Creation time (Unix ms), or 0 where the platform does not report one.
     * Unlike the inode, it tells a new file from a deleted one whose inode it reuses.
     */
    readonly birthMs: number,
    /** True on a local file system: read synchronously (see the class comment). */
    private readonly local: boolean,
    /** The path it was opened by, symbolic links resolved: where it is, whatever links lead to it later. */
    readonly resolvedPath: string,
  ) {}

  /** Opens `path` read-only; undefined when it does not exist. */
  static async open(path: string): Promise<FollowedFile | undefined> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    try {
      const stat = await handle.stat({ bigint: false });
      // Resolved after opening: a link re-pointed in between names the other file, which the inode check then tells.
      const resolvedPath = await fs.realpath(path).catch(() => path);
      return new FollowedFile(handle, path, stat.ino, birthTimesAreReal() ? stat.birthtimeMs : 0, isLocalFileSystem(path), resolvedPath);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * The file's id for the protocol: `<inode>-<checksum of its first line>`,
   * which two sidecars reading one shared file compute alike. Undefined until
   * the first line is complete (or {@link IDENTITY_HEAD_BYTES} long).
   */
  async fileId(): Promise<string | undefined> {
    const head = Buffer.alloc(IDENTITY_HEAD_BYTES);
    const bytes = await this.readAt(head, 0);
    const newline = head.subarray(0, bytes).indexOf(10);
    if (newline < 0 && bytes < IDENTITY_HEAD_BYTES) return undefined;
    const firstLine = head.subarray(0, newline < 0 ? bytes : newline + 1);
    return `${this.ino}-${hash("sha256", firstLine, "hex").slice(0, 16)}`;
  }

  /** Reads into `buffer` from byte `offset`; returns the bytes read (0 at end of file). */
  async readAt(buffer: Buffer, offset: number): Promise<number> {
    if (this.local) return readSync(this.handle.fd, buffer, 0, buffer.length, offset);
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, offset);
    return bytesRead;
  }

  /**
   * The up to {@link ANCHOR_WINDOW_BYTES} bytes just before `offset`, as far
   * as the file still holds them: shorter than asked when the file is now
   * shorter than `offset`.
   */
  async windowBefore(offset: number): Promise<Buffer> {
    const start = Math.max(0, offset - ANCHOR_WINDOW_BYTES);
    const window = Buffer.alloc(offset - start);
    const bytes = window.length === 0 ? 0 : await this.readAt(window, start);
    return window.subarray(0, bytes);
  }

  /** Anchor of the bytes just before `offset`; undefined if the file is now shorter than `offset`. */
  async anchorAt(offset: number): Promise<string | undefined> {
    const window = await this.windowBefore(offset);
    return window.length === Math.min(offset, ANCHOR_WINDOW_BYTES) ? anchorOf(window) : undefined;
  }

  /** Current size in bytes. */
  async size(): Promise<number> {
    return this.local ? fstatSync(this.handle.fd).size : (await this.handle.stat()).size;
  }

  /** Closes the descriptor; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** The inode part of a file id (`<inode>-<checksum>`, see fileId()); undefined for an empty or malformed id. */
export function inodeOfFileId(fileId: string): number | undefined {
  const match = /^(\d+)-/.exec(fileId);
  return match ? Number(match[1]) : undefined;
}

/**
 * True when two creation times, 0 meaning unknown, allow the same file: only
 * two known and different times prove two files.
 */
export function sameBirth(aMs: number, bMs: number): boolean {
  return aMs === 0 || bMs === 0 || aMs === bMs;
}

let birthTimesProbed: boolean | undefined;

/**
 * Whether stat reports real creation times. Where the kernel or a seccomp
 * profile refuses statx, Node falls back to stat and reports the change time
 * as the creation time, which moves with every write: such a value must not
 * be compared. procfs keeps no creation time, so statx reports 0 for it while
 * the fallback reports its change time.
 */
function birthTimesAreReal(): boolean {
  if (birthTimesProbed === undefined) {
    try {
      birthTimesProbed = process.platform !== "linux" || statSync("/proc/self").birthtimeMs === 0;
    } catch {
      birthTimesProbed = false;
    }
  }
  return birthTimesProbed;
}

import * as fsSync from "node:fs";
import * as fs from "node:fs/promises";

/** A file of a rotation chain: `log.csv.2`, `log.csv.1`, `log.csv`. */
export interface ChainLink {
  readonly path: string;
  readonly ino: number;
  /** Last modification, Unix milliseconds. */
  readonly mtimeMs: number;
}

/**
 * Lists the rename-rotation chain of `path`, oldest first: `path.N` … `path.1`,
 * then `path` itself, for the files that exist (compressed files are not
 * followed: rows in them were shipped before they were compressed, or are
 * history from before logtally).
 */
export async function listRotationChain(path: string, maxRotated: number): Promise<ChainLink[]> {
  // A rotation during a scan could move a file past it unseen: scan until two
  // scans in a row agree.
  let previous = await scanChain(path, maxRotated);
  for (let attempt = 0; attempt < MAX_SCANS; attempt++) {
    const current = await scanChain(path, maxRotated);
    if (sameChain(previous, current)) return current;
    previous = current;
  }
  return previous;
}

const MAX_SCANS = 10;

function sameChain(a: readonly ChainLink[], b: readonly ChainLink[]): boolean {
  return a.length === b.length && a.every((link, index) => link.path === b[index]!.path && link.ino === b[index]!.ino);
}

async function scanChain(path: string, maxRotated: number): Promise<ChainLink[]> {
  const chain: ChainLink[] = [];
  for (let n = maxRotated; n >= 0; n--) {
    const candidate = n === 0 ? path : `${path}.${n}`;
    try {
      const stat = await fs.stat(candidate);
      if (stat.isFile()) chain.push({ path: candidate, ino: stat.ino, mtimeMs: stat.mtimeMs });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return chain;
}

/** Inode `path` names now; undefined when it does not exist. */
export async function inodeOf(path: string): Promise<number | undefined> {
  try {
    return (await fs.stat(path)).ino;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Like inodeOf, synchronously: for the moment a sidecar starts; undefined also when unreadable. */
export function inodeOfSync(path: string): number | undefined {
  try {
    return fsSync.statSync(path).ino;
  } catch {
    return undefined;
  }
}

/**
 * The file to read after the one with inode `ino` was rotated away: the next
 * newer link of the chain; the oldest link when `ino` has left the chain
 * (rotated past the links followed, or deleted). Reading a link that was
 * already shipped costs only a seek: the aggregator's committed offset for it
 * is its end.
 */
export function nextInChain(chain: readonly ChainLink[], ino: number): ChainLink | undefined {
  const at = chain.findIndex((link) => link.ino === ino);
  return at < 0 ? chain[0] : chain[at + 1];
}

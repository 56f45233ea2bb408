import type { Welcome__Output } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import type { ChangeNotifier } from "./change-notifier";
import { FollowedFile, inodeOfFileId, sameBirth } from "./followed-file";
import { inodeOf, inodeOfSync, listRotationChain, nextInChain, type ChainLink } from "./rotation";

/** What a FileFollower needs of the sidecar around it. */
export interface FollowerContext {
  /** The live file's path (`log.csv`); its rotations are `log.csv.1` … */
  readonly path: string;
  readonly maxRotatedFiles: number;
  readonly notifier: ChangeNotifier;
  /** Aborts when the sidecar stops. */
  readonly signal: AbortSignal;
  /** True once the sidecar drains: waits for a file that is not there yet end. */
  draining(): boolean;
  readonly log: Logger;
}

/** The source's latest file as a Welcome describes it: inode (from its id), creation time, resolved path. */
interface LatestFile {
  readonly ino?: number;
  readonly birthMs: number;
  readonly path: string;
}

function latestFileOf(welcome: Welcome__Output): LatestFile {
  return { ino: inodeOfFileId(welcome.sourceLatestFileId), birthMs: welcome.sourceLatestFileBirthUnixMillis, path: welcome.sourceLatestFilePath };
}

/** Announces a file id to the aggregator and returns what it knows of it. */
export type Identify = (fileId: string) => Promise<Welcome__Output>;

/**
 * Which file to read, and the next one when it is rotated away: the
 * rotation chain (`log.csv.N` … `log.csv.1`, `log.csv`) read against what
 * the aggregator says it counted. Knows nothing of batches or streams.
 */
export class FileFollower {
  /** Inode of the live file when the sidecar started: where a new source begins. */
  private liveInodeAtStart: number | undefined;
  /** Files found by latestElsewhere: each is finished once, then left (a partial last line must not bring it back). */
  private readonly finishedElsewhere = new Set<number>();

  constructor(private readonly context: FollowerContext) {}

  /** Notes which file is live now; call once, when the sidecar starts. */
  markStart(): void {
    this.liveInodeAtStart = inodeOfSync(this.context.path);
  }

  /**
   * Picks the first file to read, from the rotation chain (oldest … live):
   * - the newest file the aggregator knows: the files after it were never
   *   shipped;
   * - the live file, when it has the inode of the source's latest file: that
   *   file was truncated in place (plainly, or by copytruncate, whose copies
   *   hold rows already counted) and holds only rows never shipped;
   * - for a known source without a known file in the chain (its last file
   *   deleted, or truncated to nothing and rotated), the oldest file written
   *   since the source began;
   * - for a new source, the file that was live when this sidecar started,
   *   even if rotated since: older files are history from before the source.
   * The source's latest file counts as the oldest of the chain when a symbolic
   * link now leads elsewhere but it is still where it was (see
   * latestElsewhere). Without any of them, waits for the live file to appear; undefined when
   * stopped or drained meanwhile. Throws what `identify` throws.
   */
  async chooseStart(identify: Identify): Promise<FollowedFile | undefined> {
    const { path, maxRotatedFiles, log } = this.context;
    const chain = await listRotationChain(path, maxRotatedFiles);
    const opened: Array<{ file: FollowedFile; link: ChainLink; known: boolean }> = [];
    let sourceCreatedMs = 0;
    let latest: LatestFile = { birthMs: 0, path: "" };
    try {
      for (const link of chain) {
        const file = await FollowedFile.open(link.path);
        if (!file) continue;
        opened.push({ file, link, known: false });
        const fileId = await file.fileId();
        if (fileId === undefined) continue;
        const welcome = await identify(fileId);
        opened.at(-1)!.known = welcome.known && (await holdsWhatWasCounted(file, welcome));
        sourceCreatedMs = Number(welcome.sourceCreatedUnixMillis);
        latest = latestFileOf(welcome);
      }
      const elsewhere = await this.latestElsewhere(latest, opened, identify);
      if (elsewhere) opened.unshift(elsewhere);
    } catch (error) {
      // The connection broke: the next session lists the chain again.
      for (const { file } of opened) await file.close();
      throw error;
    }
    const live = opened.at(-1)?.link.path === path ? opened.at(-1) : undefined;
    const start =
      opened.findLast(({ known }) => known) ??
      (live && live.file.ino === latest.ino && sameBirth(live.file.birthMs, latest.birthMs) ? live : undefined) ??
      (sourceCreatedMs > 0 ? opened.find(({ link }) => link.mtimeMs >= sourceCreatedMs) : opened.find(({ file }) => file.ino === this.liveInodeAtStart));
    for (const { file } of opened) if (file !== start?.file) await file.close();
    log.info({ file: start?.file.openedAs ?? path, known: start?.known ?? false, sourceCreatedMs }, "starting with file");
    return start?.file ?? (await this.waitForFile(path));
  }

  /**
   * For a file announced as new (`welcome` not known) when the start file was
   * chosen before any file could be announced (the live one had no complete
   * line yet): the source's latest file, if a symbolic link moved away from
   * it (see latestElsewhere). Its rows come first.
   */
  async previousElsewhere(current: FollowedFile, welcome: Welcome__Output, identify: Identify): Promise<FollowedFile | undefined> {
    if (welcome.known) return undefined;
    return (await this.latestElsewhere(latestFileOf(welcome), [{ file: current }], identify))?.file;
  }

  /**
   * The source's latest file where the aggregator last saw it, when that is
   * outside the rotation chain now (a symbolic link re-pointed while no
   * sidecar ran) and still holds what was counted: its unshipped rows come
   * before any newer file's. Undefined otherwise.
   */
  private async latestElsewhere(
    latest: LatestFile,
    opened: ReadonlyArray<{ readonly file: FollowedFile }>,
    identify: Identify,
  ): Promise<{ file: FollowedFile; link: ChainLink; known: boolean } | undefined> {
    if (
      latest.path === "" ||
      latest.ino === undefined ||
      this.finishedElsewhere.has(latest.ino) ||
      opened.some(({ file }) => file.resolvedPath === latest.path || file.ino === latest.ino)
    ) {
      return undefined;
    }
    const file = await FollowedFile.open(latest.path);
    if (!file) return undefined;
    const fileId = file.ino === latest.ino && sameBirth(file.birthMs, latest.birthMs) ? await file.fileId() : undefined;
    const welcome =
      fileId === undefined
        ? undefined
        : await identify(fileId).catch(async (error: unknown) => {
            await file.close();
            throw error;
          });
    if (!welcome?.known || !(await holdsWhatWasCounted(file, welcome))) {
      await file.close();
      return undefined;
    }
    this.finishedElsewhere.add(file.ino);
    this.context.log.info({ file: latest.path, link: this.context.path }, "the latest file is no longer where the path leads: finishing it first");
    return { file, link: { path: latest.path, ino: file.ino, mtimeMs: 0 }, known: true };
  }

  /** The file after `current` in the rotation chain, waiting for one to exist; undefined when stopped or drained. */
  async next(current: FollowedFile): Promise<FollowedFile | undefined> {
    const { path, maxRotatedFiles, notifier, signal, log } = this.context;
    while (!signal.aborted) {
      const drainingBeforeList = this.context.draining();
      const chain = await listRotationChain(path, maxRotatedFiles);
      const link = nextInChain(chain, current.ino);
      if (link) {
        const file = await FollowedFile.open(link.path);
        // The chain may have rotated again between listing and opening.
        if (file && file.ino === link.ino) {
          log.info({ from: current.openedAs, to: link.path }, "following rotation");
          return file;
        }
        await file?.close();
        continue;
      }
      if (drainingBeforeList) return undefined;
      await notifier.wait(signal);
    }
    return undefined;
  }

  /**
   * Waits until the file has a complete first line and returns its id;
   * "rotated" when it was renamed away or deleted before it had one (nothing
   * in it can be counted); undefined when stopped, or draining with nothing
   * to ship.
   */
  async waitForFileId(file: FollowedFile): Promise<string | undefined> {
    const { path, notifier, signal } = this.context;
    while (!signal.aborted) {
      // Seen before the read, as in GenerationShipper.run.
      const drainingBeforeRead = this.context.draining();
      const fileId = await file.fileId();
      if (fileId !== undefined) return fileId;
      if ((await inodeOf(path)) !== file.ino) {
        // One more look: the writer may have completed the line before moving on.
        return (await file.fileId()) ?? "rotated";
      }
      if (drainingBeforeRead) return undefined;
      await notifier.wait(signal);
    }
    return undefined;
  }

  private async waitForFile(path: string): Promise<FollowedFile | undefined> {
    const { notifier, signal, log } = this.context;
    let logged = false;
    while (!signal.aborted) {
      const drainingBeforeOpen = this.context.draining();
      const file = await FollowedFile.open(path);
      if (file) return file;
      if (drainingBeforeOpen) return undefined;
      if (!logged) log.info({ file: path }, "waiting for the file to appear");
      logged = true;
      await notifier.wait(signal);
    }
    return undefined;
  }
}

/**
 * Whether `file` still holds what the welcomed generation counted: the same
 * file (a new one can get a deleted file's inode and first line, and so its
 * id) with the same bytes before the committed offset.
 */
export async function holdsWhatWasCounted(file: FollowedFile, welcome: Welcome__Output): Promise<boolean> {
  const committed = Number(welcome.committedOffset);
  if (committed === 0) return true;
  return sameBirth(file.birthMs, welcome.fileBirthUnixMillis) && (await file.anchorAt(committed)) === welcome.anchor;
}

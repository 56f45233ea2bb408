import * as fs from "node:fs";
import * as path from "node:path";
import { isLocalFileSystem } from "./file-system";

/** Why a {@link ChangeNotifier.wait} returned. */
export type WakeReason =
  /** The log file's directory reported a change to the file (or one of its rotations). */
  | "changed"
  /** The poll interval passed, or the wait's own limit. */
  | "poll"
  /** The signal aborted, or the notifier stopped. */
  | "stopped";

/**
 * Where notifications are trusted, the file is still checked this many poll
 * intervals apart: a safety net for what inotify does not report (a write
 * through a shared mapping, the directory itself replaced).
 */
export const TRUSTED_POLL_FACTOR = 20;

/**
 * Wakes the reader when the log file changes, and on a timer in any case.
 *
 * On a local file system, inotify reports every write, so the reader sleeps
 * until one comes and polls only as a safety net, every
 * {@link TRUSTED_POLL_FACTOR} × `pollIntervalMs`. On a network file system,
 * writes made by another host are never reported, so polling every
 * `pollIntervalMs` is the floor, not a fallback.
 *
 * Every notification wakes the process, and an application writing a few
 * lines at a time sends one per write: a reader with no use for them (it
 * reads on a timer while the file is being written) should pause() them, and
 * resume() and read once more before it waits again.
 */
export class ChangeNotifier {
  private watcher: fs.FSWatcher | undefined;
  private state: "idle" | "watching" | "paused" | "stopped" = "idle";
  /** Whether the directory's file system reports other hosts' writes; known once a watch was opened. */
  private local: boolean | undefined;
  private waiters = new Set<(reason: WakeReason) => void>();
  private changed = false;
  private readonly directory: string;
  /** Names whose changes matter: the file and its rotations (`log.csv.1` …). */
  private readonly fileName: string;

  constructor(
    filePath: string,
    private readonly pollIntervalMs: number,
  ) {
    this.directory = path.dirname(filePath);
    this.fileName = path.basename(filePath);
  }

  /**
   * Starts watching the directory and decides whether its notifications can
   * be trusted; a directory that cannot be watched leaves polling alone.
   */
  start(): void {
    if (this.state !== "idle") return;
    this.state = "watching";
    this.openWatcher();
  }

  /** The interval between checks when nothing is reported, in milliseconds. */
  get effectivePollIntervalMs(): number {
    return this.watcher && this.local ? this.pollIntervalMs * TRUSTED_POLL_FACTOR : this.pollIntervalMs;
  }

  /** Stops notifications, which would wake the process for nothing, until resume(). */
  pause(): void {
    if (this.state !== "watching") return;
    this.state = "paused";
    this.closeWatcher();
  }

  /**
   * Receives notifications again. True when they were paused: a change made
   * while they were is not reported, so read the file once more before
   * waiting.
   */
  resume(): boolean {
    if (this.state === "idle" || this.state === "stopped") return false;
    const wasPaused = this.state === "paused";
    this.state = "watching";
    if (!this.watcher) this.openWatcher();
    return wasPaused;
  }

  /**
   * Resolves on the next change, after the poll interval (or `maxWaitMs`, if
   * shorter), or when `signal` aborts. Returns at once when a change came
   * since the last clear(). Once the notifier is stopped, only the timer and
   * the signal end a wait.
   */
  wait(signal: AbortSignal, maxWaitMs = Number.POSITIVE_INFINITY): Promise<WakeReason> {
    if (signal.aborted) return Promise.resolve("stopped");
    this.resume();
    if (this.changed) {
      this.changed = false;
      return Promise.resolve("changed");
    }
    return new Promise((resolve) => {
      const done = (reason: WakeReason): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", aborted);
        this.waiters.delete(done);
        if (reason === "changed") this.changed = false;
        resolve(reason);
      };
      const aborted = (): void => done("stopped");
      const timer = setTimeout(() => done("poll"), Math.min(maxWaitMs, this.effectivePollIntervalMs));
      timer.unref();
      signal.addEventListener("abort", aborted, { once: true });
      this.waiters.add(done);
    });
  }

  /**
   * Forgets changes seen so far: call it just before reading the file, which
   * sees them all; a change after it still wakes the next wait.
   */
  clear(): void {
    this.changed = false;
  }

  /** Stops watching; pending waits resolve. Idempotent. */
  stop(): void {
    this.state = "stopped";
    this.closeWatcher();
    for (const waiter of [...this.waiters]) waiter("stopped");
  }

  private notify(fileName: string | null): void {
    // Another file of the directory (an application's other logs) is none of the reader's business.
    if (fileName !== null && !fileName.startsWith(this.fileName)) return;
    this.changed = true;
    for (const waiter of [...this.waiters]) waiter("changed");
  }

  private openWatcher(): void {
    try {
      const watcher = fs.watch(this.directory, { persistent: false }, (_event, fileName) => this.notify(fileName));
      watcher.on("error", () => {
        // The directory went away, or the watch broke: poll at the full rate until a resume() watches again.
        this.closeWatcher();
      });
      this.watcher = watcher;
      this.local ??= isLocalFileSystem(this.directory);
    } catch {
      this.watcher = undefined;
    }
  }

  private closeWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}

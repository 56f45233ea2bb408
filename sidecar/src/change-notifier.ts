import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Wakes the reader when the log file's directory changes, and at least every
 * `pollIntervalMs` in any case: inotify says nothing about writes made by
 * another host to a network filesystem, so polling is the floor, not a
 * fallback.
 */
export class ChangeNotifier {
  private watcher: fs.FSWatcher | undefined;
  private waiters = new Set<() => void>();
  private changed = false;

  constructor(
    private readonly filePath: string,
    private readonly pollIntervalMs: number,
  ) {}

  /** Starts watching the directory; a directory that cannot be watched leaves polling alone. */
  start(): void {
    if (this.watcher) return;
    try {
      this.watcher = fs.watch(path.dirname(this.filePath), { persistent: false }, () => this.notify());
      this.watcher.on("error", () => this.stopWatching());
    } catch {
      this.watcher = undefined;
    }
  }

  /** Resolves on the next change, after the poll interval, or when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.changed || signal.aborted) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.waiters.delete(done);
        this.changed = false;
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      timer.unref();
      signal.addEventListener("abort", done, { once: true });
      this.waiters.add(done);
    });
  }

  /** Stops watching; pending waits resolve. Idempotent. */
  stop(): void {
    this.stopWatching();
    for (const waiter of [...this.waiters]) waiter();
  }

  private notify(): void {
    this.changed = true;
    for (const waiter of [...this.waiters]) waiter();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}

/**
 * Sleeps that one abort signal cuts short: the batch linger, a few times a
 * second, and the delay between reconnects. It listens to the signal once
 * for its whole life: adding and removing an abort listener for every sleep
 * costs more than the sleep's timer. Any number of sleeps may run at once.
 */
export class Sleeper {
  private readonly sleeping = new Set<() => void>();

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener("abort", () => this.wakeAll(), { once: true });
  }

  /** Sleeps `ms`, or less if the signal aborts first; never rejects. */
  sleep(ms: number): Promise<void> {
    if (this.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleeping.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.sleeping.add(wake);
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.sleeping]) wake();
  }
}

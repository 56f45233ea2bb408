/** Capped exponential backoff with full jitter, as reconnect delays. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay: uniform in [0, min(max, initial * 2^attempt)). */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  /** Starts over after a success. */
  reset(): void {
    this.attempt = 0;
  }
}

/** Outcome of {@link LogThrottle.take}. */
export type ThrottleVerdict = { readonly log: true; readonly suppressed: number } | { readonly log: false };

/**
 * Lets one log line per key through every `intervalMs` and counts those held
 * back, so a flood of refused calls costs a line per interval and per key
 * rather than a line per call. Keys come from a small fixed set (reasons).
 */
export class LogThrottle {
  private readonly byKey = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether to log for `key` now; when so, how many lines were held back since the last one. */
  take(key: string): ThrottleVerdict {
    const nowMs = this.now();
    const entry = this.byKey.get(key);
    if (entry && nowMs - entry.lastMs < this.intervalMs) {
      entry.suppressed++;
      return { log: false };
    }
    const suppressed = entry?.suppressed ?? 0;
    this.byKey.set(key, { lastMs: nowMs, suppressed: 0 });
    return { log: true, suppressed };
  }
}

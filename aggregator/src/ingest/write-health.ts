import type { Logger } from "@logtally/runtime";
import { describeWriteFailure, type WriteFailure } from "../store/write-failure";

/** How often the state is tried again while it cannot be written. */
export const WRITE_PROBE_INTERVAL_MS = 1_000;

/**
 * Whether the state can be written now. Commits report here; while they
 * fail for a condition that can pass (read-only, disk full, I/O errors), the
 * aggregator is not ready, and a probe tries a write every
 * WRITE_PROBE_INTERVAL_MS so that it recovers by itself, even with no batch
 * coming (a pod not ready gets no traffic). One log line per change.
 *
 * Lifecycle: start() probes at once; stop() ends the probes.
 */
export class WriteHealth {
  private failure: WriteFailure | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly probe: () => Promise<void>,
    private readonly log: Logger,
    private readonly onChange: (writable: boolean) => void,
  ) {}

  /** True while commits succeed. */
  get writable(): boolean {
    return this.failure === undefined;
  }

  /** The current failure, if any. */
  get current(): WriteFailure | undefined {
    return this.failure;
  }

  /** Proves the state can be written now; a failure makes the aggregator not ready until a probe succeeds. */
  start(): Promise<void> {
    return this.tryWrite();
  }

  /** A commit succeeded. */
  succeeded(): void {
    if (!this.failure) return;
    this.log.info({ was: this.failure.condition }, "state database writable again: counting resumes");
    this.failure = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.onChange(true);
  }

  /** A commit failed with a condition that can pass. */
  failed(failure: WriteFailure): void {
    if (this.failure?.condition === failure.condition) return;
    this.failure = failure;
    this.log.error({ condition: failure.condition }, `${failure.message}; not ready until it can be written`);
    this.onChange(false);
    this.scheduleProbe();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private scheduleProbe(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tryWrite();
    }, WRITE_PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  private async tryWrite(): Promise<void> {
    try {
      await this.probe();
      this.succeeded();
    } catch (error) {
      if (this.stopped) return;
      const failure = describeWriteFailure(error);
      if (!failure) throw error;
      this.failed(failure);
      this.scheduleProbe();
    }
  }
}

import type { RunningProcess } from "@logtally/testing";

/**
 * Every process a chaos world started, for log dumps, and those that exited
 * without the harness asking them to: a crash that heal() or the next restart
 * would otherwise hide.
 */
export class ProcessRecord {
  readonly history: RunningProcess[] = [];
  /** `name (exit code or signal)` of each process that exited while still in its slot. */
  readonly unexpectedExits: string[] = [];
  private closing = false;

  /**
   * Records a process started into a slot. The harness empties a slot before
   * it signals the process in it, so an exit while `inSlot()` still holds was
   * not its doing.
   */
  add(running: RunningProcess, inSlot: () => boolean): void {
    this.history.push(running);
    void running.exited.then(({ code, signal }) => {
      if (inSlot() && !this.closing) this.unexpectedExits.push(`${running.name} (${signal ?? `exit ${code}`})`);
    });
  }

  /** Kills every process; their exits from now on are expected. */
  async killAll(): Promise<void> {
    this.closing = true;
    await Promise.all(this.history.map((running) => running.stop("SIGKILL")));
  }

  /** The logs of every process, for a failure report. */
  dump(): string {
    return this.history.map((running) => running.dump()).join("\n");
  }
}

import * as fs from "node:fs";
import * as path from "node:path";
import { SIDECAR_NODE_OPTIONS } from "@logtally/sidecar";
import { THIS_BUILD, startAggregator, startSidecar, type AggregatorProcess, type Programs } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { QueryProbe } from "../support/query";
import { SQLITE, storeArgs, type BenchStore } from "./bench-postgres";
import { track } from "./cleanup";
import { sleep } from "./stats";

/**
 * The sidecar's own defaults for the flags the test harness shortens, and
 * info-level logs: benchmarks run the sidecar as it is deployed (and with the
 * node options its image passes).
 */
const SIDECAR_DEFAULT_ARGS = ["--poll-interval-ms", "250", "--rotate-grace-ms", "1000", "--log-level", "info"];

/**
 * Starts an aggregator on a fresh state directory under `dir` (or on the
 * PostgreSQL database `store` names), on free loopback ports.
 */
export async function startBenchAggregator(dir: string, programs: Programs = THIS_BUILD, store: BenchStore = SQLITE): Promise<AggregatorProcess> {
  const stateDir = path.join(dir, "state");
  fs.mkdirSync(stateDir, { recursive: true });
  return startAggregator(stateDir, { programs, extraArgs: storeArgs(store), name: `aggregator-${store.engine}` }).then((aggregator) => {
    track(aggregator.child);
    return aggregator;
  });
}

/** Starts a sidecar with its default settings (and `extraArgs`, a counting spec), tailing `file` for `sourceId`. */
export function startBenchSidecar(
  name: string,
  options: { file: string; aggregator: AggregatorProcess; sourceId: string; programs?: Programs; extraArgs?: readonly string[] },
): RunningProcess {
  const sidecar = startSidecar(name, {
    file: options.file,
    aggregator: options.aggregator.grpcAddress,
    sourceId: options.sourceId,
    extraArgs: [...SIDECAR_DEFAULT_ARGS, ...(options.extraArgs ?? [])],
    nodeArgs: SIDECAR_NODE_OPTIONS,
    programs: options.programs,
  });
  track(sidecar.child);
  return sidecar;
}

/** SIGKILLs processes a measurement is done with (their state is thrown away). */
export async function killAll(processes: ReadonlyArray<RunningProcess | undefined>): Promise<void> {
  await Promise.all(processes.map((running) => running?.stop("SIGKILL")));
}

/** Reads committed offsets from the aggregator's Query service (cheap at any series count, unlike /metrics). */
export class CommitProbe {
  private readonly probe: QueryProbe;

  constructor(private readonly aggregator: AggregatorProcess) {
    this.probe = new QueryProbe(aggregator.grpcAddress);
  }

  /** The committed offset of the source's current file, 0 before its first commit. */
  async committedOffset(sourceId: string): Promise<number> {
    const sources = await this.probe.listSources();
    return Number(sources.find((source) => source.sourceId === sourceId)?.committedOffset ?? 0);
  }

  /**
   * Polls every `intervalMs` until the source's committed offset satisfies
   * `reached`; resolves with `performance.now()` at the answer that did.
   * Rejects after `timeoutMs`, or if the aggregator or a process in `watch`
   * (the sidecar shipping) exits.
   */
  async waitForOffset(
    sourceId: string,
    reached: (offsetBytes: number) => boolean,
    { intervalMs = 20, timeoutMs = 600_000, watch = [] }: { intervalMs?: number; timeoutMs?: number; watch?: readonly RunningProcess[] } = {},
  ): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let last = 0;
    for (;;) {
      for (const running of [this.aggregator, ...watch]) {
        if (running.child.exitCode !== null || running.child.signalCode !== null) {
          throw new Error(`${running.name} exited while waiting for ${sourceId} (committed ${last} bytes)\n${running.dump()}`);
        }
      }
      last = await this.committedOffset(sourceId);
      const at = performance.now();
      if (reached(last)) return at;
      if (at > deadline) throw new Error(`${sourceId}: committed offset still ${last} bytes after ${timeoutMs} ms`);
      await sleep(intervalMs);
    }
  }

  /** Closes the gRPC channel. */
  close(): void {
    this.probe.close();
  }
}

import * as fs from "node:fs";
import type { AggregatorProcess, Programs } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { CommitProbe, startBenchSidecar } from "./pipeline";

/** A sidecar that has shipped a file up to a point, still running, and how long that took from its start. */
export interface CaughtUp {
  readonly sidecar: RunningProcess;
  /** From spawning the sidecar until the aggregator answered with the awaited committed offset. */
  readonly seconds: number;
  /** The committed offset awaited. */
  readonly committedBytes: number;
}

/**
 * Starts a sidecar for `file` as `sourceId` and waits until the aggregator's
 * committed offset for it equals the file's size (or satisfies `done`, given
 * the offset and the file's size at that moment). The clock starts just
 * before the sidecar is spawned, so its start-up counts. `beforeStart` runs
 * right before the spawn (to start a writer at the same moment).
 */
export async function catchUp(
  aggregator: AggregatorProcess,
  {
    file,
    sourceId,
    name = sourceId,
    done = (offsetBytes, sizeBytes) => offsetBytes === sizeBytes,
    beforeStart,
    pollIntervalMs = 20,
    programs,
    extraArgs,
  }: {
    file: string;
    sourceId: string;
    name?: string;
    done?: (offsetBytes: number, sizeBytes: number) => boolean;
    beforeStart?: () => void;
    pollIntervalMs?: number;
    /** The sidecar's build (default: this checkout's) and flags beyond its defaults. */
    programs?: Programs;
    extraArgs?: readonly string[];
  },
): Promise<CaughtUp> {
  const probe = new CommitProbe(aggregator);
  try {
    beforeStart?.();
    const startMs = performance.now();
    const sidecar = startBenchSidecar(name, { file, aggregator, sourceId, programs, extraArgs });
    let committedBytes = 0;
    const endMs = await probe.waitForOffset(
      sourceId,
      (offsetBytes) => {
        committedBytes = offsetBytes;
        return done(offsetBytes, fs.statSync(file).size);
      },
      { intervalMs: pollIntervalMs, watch: [sidecar] },
    );
    return { sidecar, seconds: (endMs - startMs) / 1000, committedBytes };
  } finally {
    probe.close();
  }
}

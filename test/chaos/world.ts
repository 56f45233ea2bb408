import * as fs from "node:fs";
import * as path from "node:path";
import { LogWriter, fileSize, pointLink } from "../support/log-writer";
import { startSidecar } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { QueryProbe } from "../support/query";
import { waitFor } from "../support/wait";
import { ChaosAggregators, isRunning, type ChaosStore } from "./chaos-aggregators";
import { ProcessRecord } from "./process-record";
import { SPEC_ARGS, SPEC_SOURCE, countedSeries, seriesKey } from "./spec-source";

/** First line of every file the world creates. */
export const HEADER = "host,job_name\n";

/** Sidecar flags for chaos runs: short timeouts so faults resolve within a scenario. */
const SIDECAR_ARGS = ["--ack-timeout-ms", "1500", "--drain-timeout-ms", "15000", "--batch-max-bytes", "65536"];

/** One sidecar slot of a source: the process running in it now, if any. */
export interface SidecarSlot {
  readonly name: string;
  process: RunningProcess | undefined;
}

/** A source: one file, its writer (the ground truth), and one or two sidecars. */
export interface ChaosSource {
  readonly id: string;
  readonly writer: LogWriter;
  readonly slots: SidecarSlot[];
  /**
   * For a source whose path is a symbolic link (as Kubernetes' container
   * logs are), the files it led to so far: rotated by re-pointing the link,
   * never by renaming. Undefined for a plain file.
   */
  readonly linkTargets?: string[];
  /** While true the background writer leaves this file alone. */
  paused: boolean;
}

/**
 * Everything a chaos scenario runs: the aggregators (one on SQLite, replicas
 * on PostgreSQL; see ChaosAggregators), each behind a fault proxy, the
 * sources with their sidecars and writers. Methods are the moves faults are
 * made of; each leaves the world in a state the next can start from.
 */
export class ChaosWorld {
  readonly sources: ChaosSource[] = [];
  readonly aggregators: ChaosAggregators;
  /** Every process ever started, and those that exited unasked. */
  readonly processes = new ProcessRecord();
  /**
   * Rows appended between a copytruncate's copy and its truncation, over
   * the scenario: the most it may lose (0 when it has no copytruncate).
   */
  rowsInCopytruncateWindows = 0;
  private writing = false;
  private markers = 0;
  private writerLoop: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly random: () => number,
    readonly store: ChaosStore = { kind: "sqlite" },
  ) {
    this.aggregators = new ChaosAggregators(dir, store, random, this.processes);
  }

  /**
   * Starts the aggregators (and the database), the proxies, and sources
   * `pod-a`, `pod-b` (counted under a spec of its own: spec-source.ts),
   * `shared` (two sidecars, one file) and `linked` (a symbolic link to the file).
   */
  async start({ lateSharedSidecar = false }: { lateSharedSidecar?: boolean } = {}): Promise<void> {
    await this.aggregators.start();
    const seeds = [1, 2, 3, 4].map(() => Math.floor(this.random() * 2 ** 31));
    for (const [index, [id, sidecars]] of (
      [
        ["pod-a", 1],
        ["pod-b", 1],
        ["shared", 2],
        ["linked", 1],
      ] as const
    ).entries()) {
      const writer = new LogWriter(path.join(this.dir, `${id}.csv`), seeds[index]!);
      const slots = Array.from({ length: sidecars }, (_, n) => ({ name: `${id}-sidecar-${n + 1}`, process: undefined }));
      const source: ChaosSource = { id, writer, slots, paused: false, ...(id === "linked" ? { linkTargets: [] } : {}) };
      // A header first: a file truncated and rewritten then starts with the
      // same line, so only the bytes before the offset tell the two apart.
      if (source.linkTargets) this.pointLinkAtNewFile(source);
      else fs.writeFileSync(writer.file, HEADER);
      this.sources.push(source);
    }
    for (const source of this.sources) {
      for (const [n, slot] of source.slots.entries()) {
        if (!(lateSharedSidecar && source.id === "shared" && n === 1)) this.startSidecar(source, slot);
      }
    }
    // A source begins with its first commit (the header line): files rotated
    // away before then are history, not rows appended to a tailed file.
    await this.settle();
  }

  /** The SQLite aggregator's state directory. */
  get stateDir(): string {
    return path.join(this.dir, "state");
  }

  /** Starts a sidecar in a slot (which must be empty), connected through the proxy (or the Service). */
  startSidecar(source: ChaosSource, slot: SidecarSlot): void {
    const running = startSidecar(`${slot.name}-${this.processes.history.length}`, {
      file: source.writer.file,
      aggregator: this.aggregators.address,
      sourceId: source.id,
      extraArgs: [...SIDECAR_ARGS, ...(source.id === SPEC_SOURCE ? SPEC_ARGS : [])],
    });
    slot.process = running;
    this.processes.add(running, () => slot.process === running);
  }

  /** Creates a linked source's next file (with the header) and re-points its link at it; the old file stays. */
  pointLinkAtNewFile(source: ChaosSource): void {
    const targets = source.linkTargets!;
    const target = path.join(this.dir, `${source.id}-${targets.length}.csv`);
    fs.writeFileSync(target, HEADER);
    targets.push(target);
    pointLink(source.writer.file, target);
  }

  /** Signals the sidecar in a slot and waits for it to exit. */
  async stopSidecar(slot: SidecarSlot, signal: NodeJS.Signals): Promise<{ code: number | null }> {
    const running = slot.process;
    slot.process = undefined;
    return running ? running.stop(signal) : { code: 0 };
  }

  /** Appends rows to every unpaused file until stopWriting(): bursts, split writes, partial lines left for a while. */
  startWriting(): void {
    this.writing = true;
    this.writerLoop = (async () => {
      while (this.writing) {
        for (const source of this.sources) {
          if (source.paused) continue;
          if (this.random() < 0.1) {
            // A partial last line, completed a little later.
            const complete = source.writer.beginRow();
            await pause(10 + this.random() * 150);
            complete();
          } else {
            source.writer.append(1 + Math.floor(this.random() * 200));
          }
        }
        await pause(5 + this.random() * 30);
      }
    })();
  }

  /** Stops the background writer; every file then ends with a newline. */
  async stopWriting(): Promise<void> {
    this.writing = false;
    await this.writerLoop;
  }

  /** Runs `action` while the writer leaves this source's file alone (no partial line pending). */
  async whileWriterPaused(source: ChaosSource, action: () => Promise<void> | void): Promise<void> {
    source.paused = true;
    try {
      // The writer may be inside a partial line of this file: let that iteration finish.
      await pause(200);
      await action();
    } finally {
      source.paused = false;
    }
  }

  /**
   * Like whileWriterPaused, after everything in the file is counted: for
   * changes that destroy the file's content, whose rows no tailer could
   * count once gone.
   */
  async whileSettled(source: ChaosSource, action: () => Promise<void> | void): Promise<void> {
    await this.whileWriterPaused(source, async () => {
      await this.settle([source]);
      await action();
    });
  }

  /**
   * Waits until everything written to these sources is counted: a unique
   * marker row is appended to each and must be counted, and each committed
   * offset must equal its file's size. (The offset alone could be that of
   * the content before a truncation, regrown to the same size.)
   */
  async settle(sources: readonly ChaosSource[] = this.sources, timeoutMs = 60_000): Promise<void> {
    const markers = sources.map((source) => {
      const host = `marker-${++this.markers}`;
      source.writer.write(`${host},settled\n`);
      source.writer.count(host, "settled");
      return seriesKey(source.id, `${host}|settled`);
    });
    const aggregator = this.aggregators.live();
    const probe = new QueryProbe(aggregator.grpcAddress);
    let last = "";
    try {
      await waitFor(
        async () => {
          const counts = await countedSeries(aggregator.metricsUrl);
          const offsets = new Map((await probe.listSources()).map((status) => [status.sourceId, Number(status.committedOffset)]));
          const pending = sources.filter((source, index) => counts.get(markers[index]!) !== 1 || offsets.get(source.id) !== fileSize(source.writer.file));
          last = pending.map((source) => `${source.id}: committed ${offsets.get(source.id)} of ${fileSize(source.writer.file)}`).join(", ");
          return pending.length === 0 ? true : undefined;
        },
        { timeoutMs, intervalMs: 100, describe: () => `the pipeline to settle (${last})` },
      );
    } finally {
      probe.close();
    }
  }

  /** Brings everything back up: proxies passing, database and aggregators running, every slot with a sidecar. */
  async heal(): Promise<void> {
    await this.aggregators.heal();
    for (const source of this.sources) {
      for (const slot of source.slots) {
        const running = slot.process;
        if (!running || !isRunning(running)) this.startSidecar(source, slot);
      }
    }
  }

  /**
   * Restarts every aggregator and sidecar that exited unasked, as Kubernetes
   * restarts a crashed container; an empty slot (a sidecar yet to join, one
   * a fault stopped) stays empty.
   */
  async restartExited(): Promise<void> {
    await this.aggregators.restartExited();
    for (const source of this.sources) {
      for (const slot of source.slots) if (slot.process && !isRunning(slot.process)) this.startSidecar(source, slot);
    }
  }

  /** Each aggregator's counts (every replica's, on PostgreSQL) and the ground truth, over every source. */
  async compare(): Promise<{ counted: Array<{ aggregator: string; counts: Map<string, number> }>; truth: Map<string, number> }> {
    const truth = new Map<string, number>();
    for (const source of this.sources) {
      for (const [pair, count] of source.writer.truth) {
        const key = seriesKey(source.id, pair);
        truth.set(key, (truth.get(key) ?? 0) + count);
      }
    }
    return { counted: await this.aggregators.counts(), truth };
  }

  /** A live aggregator's gRPC address without the proxies, for the harness's own queries. */
  proxyBypassAddress(): string {
    return this.aggregators.live().grpcAddress;
  }

  /** Stops everything started (the database server's log kept in `aggregators.databaseLog`); leaves the directory. */
  async close(): Promise<void> {
    this.writing = false;
    await this.writerLoop?.catch(() => undefined);
    await this.processes.killAll();
    await this.aggregators.close();
  }

  /** The logs of every process, for a failure report. */
  dump(): string {
    return this.processes.dump();
  }
}

/** Resolves after `ms` milliseconds. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

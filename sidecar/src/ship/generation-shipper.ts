import type { BatchAck__Output } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import type { ChangeNotifier } from "../tail/change-notifier";
import { DeltaBatcher, type SealedBatch } from "../batch/delta-batcher";
import { AnchoredReader } from "../tail/anchored-reader";
import { copyHoldingTheRest } from "../tail/truncation-copy";
import type { FollowedFile } from "../tail/followed-file";
import type { IngestConnection } from "./ingest-connection";
import { LineSplitter } from "../parse/line-splitter";
import type { CountingRules } from "../parse/counting-rules";
import type { RowParser } from "../parse/parsed-row";
import { createRowParser } from "../parse/row-parser";
import { readFirstLine } from "../tail/first-line";
import { wireDeltas } from "./wire-deltas";
import type { SidecarMetrics } from "../metrics";
import { inodeOf } from "../tail/rotation";
import type { Sleeper } from "./sleeper";

/** How shipping one file generation ended. */
export type GenerationEnd =
  /** The file was truncated or rewritten in place: its next generation starts at 0. */
  | "rewritten"
  /** The path now names another file and this one was drained. */
  | "rotated"
  /** Draining was asked for and every complete line is acknowledged. */
  | "drained";

/** What a {@link GenerationShipper} needs around it. */
export interface ShipperContext {
  readonly path: string;
  readonly maxLineBytes: number;
  readonly batchMaxBytes: number;
  /** What is counted and how lines are read. */
  readonly rules: CountingRules;
  /** After catching up, how long a batch waits for more lines before it is shipped (0: at once). */
  readonly batchLingerMs: number;
  /** Batches shipped and not yet acknowledged, at most (see IngestConnection). */
  readonly batchesInFlight: number;
  readonly rotateGraceMs: number;
  /**
   * Where the file is read into: the anchor window (ANCHOR_WINDOW_BYTES, see
   * followed-file.ts) for the bytes before the read position, then the bytes
   * read at a time.
   */
  readonly readBuffer: Buffer;
  readonly notifier: ChangeNotifier;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /** True once the sidecar should stop at the end of the file. */
  readonly draining: () => boolean;
  /** Aborts waiting when the sidecar stops. */
  readonly signal: AbortSignal;
  /** Sleeps of the batch linger, cut short when the sidecar is asked to drain or stop: a batch lingering is then shipped at once. */
  readonly linger: Sleeper;
  /** Monotonic sequence for batches, shared by all streams of the process. */
  nextSequence(): number;
  /** Called for every acknowledgement: the aggregator is counting. */
  acknowledged(): void;
}

/**
 * A batch shipped and not yet acknowledged: where it ends, not its counts,
 * which are in the message sent and need not stay in memory until the answer.
 */
interface Flight {
  readonly endOffset: number;
  /** The anchor at endOffset. */
  readonly anchor: string | undefined;
  readonly ack: Promise<BatchAck__Output>;
}

/** What one read of the file found. */
type ReadOutcome = { readonly kind: "read"; readonly bytes: number } | { readonly kind: "rewritten"; readonly why: string };

/**
 * Ships one generation of one file from the aggregator's committed offset:
 * read a chunk, split it into lines, fold the lines into delta batches, ship
 * each batch, and repeat, until the file is rotated away, rewritten, or
 * drained. Up to `batchesInFlight` batches are in flight at a time, and the
 * next chunks are read, parsed and shipped while they are, so reading the
 * file, the messages between the two, and the aggregator's commits overlap.
 * Once the reader catches up, every batch in flight is acknowledged before
 * the shipper lingers, waits for the file or looks at its end.
 *
 * Everyday cost: an application writes a few lines at a time, and each batch
 * costs a message, a durable commit and several system calls on both sides,
 * so a batch is not shipped the moment the reader catches up: it lingers
 * `batchLingerMs` for more lines (a full batch, and a drain, ship at once).
 * Each read also fetches the bytes just before the read position, proving in
 * the same system call that what was read before is still there; anchors are
 * computed from the bytes read, and the rotation check runs only once the
 * file stops growing.
 *
 * The read position only matters until the next acknowledgement: on any
 * refusal the shipper waits for the answers to the batches shipped after it
 * (the aggregator decides each on its own, and they can only be refused as
 * well, or counted exactly), then re-reads from the offset the aggregator
 * returned last, dropping what it read ahead.
 *
 * Every batch reports the file's size, and so does a heartbeat when the
 * shipper has been idle at the end of the file for the aggregator's heartbeat
 * interval (checked at each wake-up, so at least the poll interval apart):
 * the aggregator shows how far behind the source is, and that it is alive.
 */
export class GenerationShipper {
  private reader: AnchoredReader;
  private committedOffset: number;
  private splitter: LineSplitter;
  /** This generation's: it holds what the file's header taught it. */
  private readonly parser: RowParser;
  private readonly batcher: DeltaBatcher;
  private rotationSeenAtMs: number | undefined;
  /** When the open batch stops lingering (Date.now()); undefined while none lingers. */
  private lingerUntilMs: number | undefined;
  /** Batches shipped and not yet acknowledged, oldest first. */
  private readonly inFlight: Flight[] = [];
  /** The anchor at committedOffset, as counted; undefined when another sidecar's batch set the offset. */
  private committedAnchor: string | undefined;
  /** After a truncation in place: the copytruncate copy the rest of this generation is read from. */
  private copy: FollowedFile | undefined;
  /** When a batch or heartbeat was last sent (Date.now()); 0 before the first. */
  private lastSentMs = 0;

  constructor(
    private readonly context: ShipperContext,
    private readonly connection: IngestConnection,
    private readonly file: FollowedFile,
    private readonly generation: string,
    startOffset: number,
    /** The anchor the aggregator has at `startOffset` ("" at 0). */
    startAnchor: string,
  ) {
    this.committedAnchor = startOffset === 0 ? undefined : startAnchor;
    this.reader = new AnchoredReader(file, context.readBuffer, startOffset);
    this.committedOffset = startOffset;
    this.splitter = new LineSplitter({ maxLineBytes: context.maxLineBytes }, startOffset);
    this.parser = createRowParser(context.rules, (problem) => {
      context.log.warn({ file: file.openedAs, generation, problem }, `file header: ${problem}`);
    });
    this.batcher = new DeltaBatcher(context.batchMaxBytes, context.metrics.tally, this.parser);
  }

  /** Runs until the generation ends; throws ConnectionLost when the stream breaks. */
  async run(): Promise<GenerationEnd> {
    const { metrics, notifier, signal, batchLingerMs } = this.context;
    metrics.committedOffset.set(this.committedOffset);
    await this.reposition(this.committedOffset);
    while (!signal.aborted) {
      // Seen before the read: whatever was written before drain() was called
      // is then read before the end of the file counts as drained.
      const drainingBeforeRead = this.context.draining();
      // The read sees every change made before it; one made later wakes the next wait.
      notifier.clear();
      const read = await this.readMore();
      if (read.kind === "rewritten") {
        await this.settle();
        if (this.copy) return this.copyCounted();
        if (await this.continueInCopy()) continue;
        return this.rewritten(read.why);
      }
      if (!this.reader.caughtUp) {
        await this.shipSealed();
        continue;
      }
      if (this.lingers(drainingBeforeRead)) {
        await this.shipSealed();
        await this.lingerUntilDue();
        continue;
      }
      this.lingerUntilMs = undefined;
      this.batcher.seal();
      await this.shipSealed();
      if (await this.settle()) continue;
      if (this.copy && read.bytes === 0) return this.copyCounted();
      metrics.fileSize.set(this.reader.offset);
      if (read.bytes > 0 && batchLingerMs > 0 && !this.context.draining()) {
        // Still being written: read again after a linger, on a timer, rather
        // than on a notification (and a wake-up) for every write meanwhile.
        this.lingerUntilMs = Date.now() + batchLingerMs;
        await this.lingerUntilDue();
        continue;
      }
      // Notifications were paused while the file was being written: a write
      // since the last read went unreported, so read once more before waiting.
      if (notifier.resume()) continue;
      let checkAgainInMs: number | undefined;
      // A file still growing is still being written: whether it was rotated
      // away is asked once it stops.
      if (read.bytes === 0 || drainingBeforeRead) {
        const end = await this.atEndOfFile(drainingBeforeRead);
        if (end === "rotated" || end === "drained") return end;
        checkAgainInMs = end?.checkAgainInMs;
        this.heartbeatIfDue();
      }
      const woke = await notifier.wait(signal, checkAgainInMs);
      // A write was reported: more are likely to follow, so let them gather
      // before reading rather than read (and wake) for each.
      if (woke === "changed" && batchLingerMs > 0 && !this.context.draining()) {
        this.lingerUntilMs = Date.now() + batchLingerMs;
        await this.lingerUntilDue();
      }
    }
    await this.copy?.close();
    return "drained";
  }

  /** True when the reader caught up and the open batch should wait for more lines. */
  private lingers(drainingBeforeRead: boolean): boolean {
    const { batchLingerMs } = this.context;
    if (batchLingerMs === 0 || drainingBeforeRead || this.copy || !this.batcher.hasOpenBatch) return false;
    const now = Date.now();
    this.lingerUntilMs ??= now + batchLingerMs;
    return now < this.lingerUntilMs;
  }

  /** Sleeps until the linger is over, without notifications (each would wake the process); a drain or stop cuts it short. */
  private async lingerUntilDue(): Promise<void> {
    this.context.notifier.pause();
    await this.context.linger.sleep(this.lingerUntilMs! - Date.now());
  }

  /** Reads what follows the read position into the splitter; a file truncated or rewritten in place is reported. */
  private async readMore(): Promise<ReadOutcome> {
    const read = await this.reader.read();
    if (read.kind === "rewritten") return read;
    if (read.bytes.length > 0) {
      this.splitter.push(read.bytes, this.batcher, read.startOffset);
      this.context.metrics.bytesRead.inc(read.bytes.length);
    }
    return { kind: "read", bytes: read.bytes.length };
  }

  /**
   * Checks, at the end of the file, whether this generation is over; while a
   * rotated file's grace period runs, says when to check again.
   */
  private async atEndOfFile(drainingBeforeRead: boolean): Promise<"rotated" | "drained" | { readonly checkAgainInMs: number } | undefined> {
    const ino = await inodeOf(this.context.path);
    if (ino !== this.file.ino) {
      // Renamed away or deleted. Keep reading it for a grace period: a writer
      // may still hold it open for its last lines.
      const now = Date.now();
      this.rotationSeenAtMs ??= now;
      const graceLeftMs = this.rotationSeenAtMs + this.context.rotateGraceMs - now;
      if (graceLeftMs <= 0) {
        this.context.log.info(
          {
            file: this.file.openedAs,
            generation: this.generation,
            committedOffset: this.committedOffset,
            unshippedBytes: this.reader.offset - this.committedOffset,
          },
          "rotated file drained",
        );
        return "rotated";
      }
      return { checkAgainInMs: graceLeftMs };
    }
    if (drainingBeforeRead) return "drained";
    return undefined;
  }

  private async shipSealed(): Promise<void> {
    for (const batch of this.batcher.takeSealed()) {
      // Batches after one that moved the read position were read from the old one.
      if (await this.settleUntilRoom()) return;
      // Taken before anything else: the read buffer is refilled by the next read.
      const anchor = await this.reader.anchorAt(batch.endOffset);
      const fileSize = this.reader.caughtUp ? this.reader.offset : await (this.copy ?? this.file).size();
      // Sent without awaiting anything more: batches leave in the order of their offsets.
      const ack = this.send(batch, anchor, fileSize);
      // Observed in settle(); until then a lost connection must not count as unhandled.
      ack.catch(() => undefined);
      this.inFlight.push({ endOffset: batch.endOffset, anchor, ack });
    }
  }

  private send(batch: SealedBatch, anchor: string | undefined, fileSize: number): Promise<BatchAck__Output> {
    this.lastSentMs = Date.now();
    return this.connection.ship(
      {
        sequence: this.context.nextSequence(),
        generation: this.generation,
        startOffset: batch.startOffset,
        endOffset: batch.endOffset,
        deltas: wireDeltas(batch.deltas, this.context.rules.spec),
        rows: batch.rows,
        rejected: batch.rejected,
        anchor: anchor ?? "",
        fileBirthUnixMillis: this.file.birthMs,
        filePath: (this.copy ?? this.file).resolvedPath,
        fileSize,
      },
      this.context.signal,
    );
  }

  /** Tells the aggregator the file's size, if nothing was sent for its heartbeat interval. */
  private heartbeatIfDue(): void {
    const intervalMs = this.connection.heartbeatIntervalMs;
    const now = Date.now();
    if (intervalMs === 0 || now - this.lastSentMs < intervalMs) return;
    this.lastSentMs = now;
    this.connection.heartbeat({ generation: this.generation, fileSize: this.reader.offset });
  }

  /**
   * Waits for every batch in flight and acts on their acknowledgements: true
   * when the read position moved, so what was read ahead was dropped.
   */
  private async settle(): Promise<boolean> {
    while (this.inFlight.length > 0) {
      if (await this.settleOldest()) return true;
    }
    return false;
  }

  /** Waits until another batch may be shipped; true as for settle(). */
  private async settleUntilRoom(): Promise<boolean> {
    while (this.inFlight.length >= this.context.batchesInFlight) {
      if (await this.settleOldest()) return true;
    }
    return false;
  }

  /** Waits for the oldest batch in flight and acts on its acknowledgement; true as for settle(). */
  private async settleOldest(): Promise<boolean> {
    const oldest = this.inFlight.shift()!;
    if (this.recordAck(oldest, await oldest.ack)) return false;
    // Another sidecar on the same file is ahead (DUPLICATE past our batch), or
    // our range did not start at the committed offset (OUT_OF_ORDER). The
    // batches shipped after this one were read from a position that no longer
    // holds: their answers come first, then reading starts again from where
    // the aggregator stands.
    for (const later of this.inFlight.splice(0)) this.recordAck(later, await later.ack);
    this.context.log.debug({ generation: this.generation, committedOffset: this.committedOffset }, "re-reading from the committed offset");
    await this.reposition(this.committedOffset);
    return true;
  }

  /** Records an acknowledgement; false when the aggregator stands elsewhere than the batch's end, so reading must start again there. */
  private recordAck(flight: Flight, ack: BatchAck__Output): boolean {
    const { metrics } = this.context;
    metrics.batches.inc({ outcome: ack.outcome.toLowerCase() });
    this.context.acknowledged();
    const committed = Number(ack.committedOffset);
    this.committedOffset = committed;
    this.committedAnchor = committed === flight.endOffset ? flight.anchor : undefined;
    metrics.committedOffset.set(committed);
    return ack.outcome === "APPLIED" || (ack.outcome === "DUPLICATE" && committed <= flight.endOffset);
  }

  private async reposition(offset: number): Promise<void> {
    // Past the first line, the header it holds is read on its own; at 0 the
    // batcher reads it as the first line.
    if (offset > 0 && this.parser.needsHeader) this.parser.learnHeader(await readFirstLine(this.copy ?? this.file, this.context.maxLineBytes));
    this.splitter.reset(offset);
    this.batcher.discard();
    this.lingerUntilMs = undefined;
    await this.reader.moveTo(offset);
  }

  /**
   * After a truncation in place, reads the rest of this generation from the
   * copy copytruncate left, if one holds what was counted: rows written
   * before the truncation are counted, not lost. False when there is none.
   */
  private async continueInCopy(): Promise<boolean> {
    const copy = await copyHoldingTheRest(this.context.path, this.file, this.committedOffset, this.committedAnchor);
    if (!copy) return false;
    this.context.log.info(
      { file: this.file.openedAs, copy: copy.openedAs, generation: this.generation, committedOffset: this.committedOffset },
      "file truncated in place: counting the rest of it from its copy",
    );
    this.copy = copy;
    this.reader = new AnchoredReader(copy, this.context.readBuffer, this.committedOffset);
    await this.reposition(this.committedOffset);
    return true;
  }

  /** The copy is counted to its end: the live file, truncated, starts the next generation. */
  private async copyCounted(): Promise<GenerationEnd> {
    await this.copy?.close();
    this.copy = undefined;
    return this.rewritten("truncated in place; the rows before the truncation were counted from its copy");
  }

  private rewritten(why: string): GenerationEnd {
    this.context.log.warn(
      { file: this.file.openedAs, generation: this.generation, committedOffset: this.committedOffset, why },
      "file rewritten in place: starting its next generation",
    );
    return "rewritten";
  }
}

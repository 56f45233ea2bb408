import type { BatchAck__Output, Logger } from "@logtally/proto";
import type { ChangeNotifier } from "./change-notifier";
import { DeltaBatcher, type SealedBatch } from "./delta-batcher";
import { ANCHOR_WINDOW_BYTES, type FollowedFile } from "./followed-file";
import type { IngestConnection } from "./ingest-connection";
import { LineSplitter } from "./line-splitter";
import type { SidecarMetrics } from "./metrics";
import { inodeOf } from "./rotation";

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
  readonly rotateGraceMs: number;
  readonly readBuffer: Buffer;
  readonly notifier: ChangeNotifier;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /** True once the sidecar should stop at the end of the file. */
  readonly draining: () => boolean;
  /** Aborts waiting when the sidecar stops. */
  readonly signal: AbortSignal;
  /** Monotonic sequence for batches, shared by all streams of the process. */
  nextSequence(): number;
}

/**
 * Ships one generation of one file from the aggregator's committed offset:
 * read a chunk, split it into lines, fold the lines into delta batches, ship
 * each batch, and repeat, until the file is rotated away, rewritten, or
 * drained. One batch is in flight at a time, and the next chunks are read
 * and parsed while it is, so the file and the aggregator's commit overlap.
 *
 * The read position only matters until the next acknowledgement: on any
 * refusal the shipper re-reads from the offset the aggregator returns,
 * dropping what it read ahead.
 *
 * Every batch reports the file's size, and so does a heartbeat when the
 * shipper has been idle at the end of the file for the aggregator's heartbeat
 * interval (checked at each wake-up, so at least the poll interval apart):
 * the aggregator shows how far behind the source is, and that it is alive.
 */
export class GenerationShipper {
  private readOffset: number;
  private committedOffset: number;
  /** The last bytes read before readOffset, to notice a rewrite in place. */
  private window: Buffer = Buffer.alloc(0);
  private splitter: LineSplitter;
  private readonly batcher: DeltaBatcher;
  private rotationSeenAtMs: number | undefined;
  /** The batch shipped and not yet acknowledged. */
  private inFlight: { readonly batch: SealedBatch; readonly ack: Promise<BatchAck__Output> } | undefined;
  /** When a batch or heartbeat was last sent (Date.now()); 0 before the first. */
  private lastSentMs = 0;
  /** The file's size when the reader last reached its end. */
  private sizeAtEndBytes = 0;

  constructor(
    private readonly context: ShipperContext,
    private readonly connection: IngestConnection,
    private readonly file: FollowedFile,
    private readonly generation: string,
    startOffset: number,
  ) {
    this.readOffset = startOffset;
    this.committedOffset = startOffset;
    this.splitter = new LineSplitter({ maxLineBytes: context.maxLineBytes }, startOffset);
    this.batcher = new DeltaBatcher(context.batchMaxBytes, context.metrics.tally);
  }

  /** Runs until the generation ends; throws ConnectionLost when the stream breaks. */
  async run(): Promise<GenerationEnd> {
    const { metrics, readBuffer, signal } = this.context;
    metrics.committedOffset.set(this.committedOffset);
    await this.reposition(this.committedOffset);
    while (!signal.aborted) {
      // Seen before the read: whatever was written before drain() was called
      // is then read before the end of the file counts as drained.
      const drainingBeforeRead = this.context.draining();
      const bytesRead = await this.file.readAt(readBuffer, this.readOffset);
      if (bytesRead > 0) {
        if (!(await this.windowIntact())) {
          await this.settle();
          return this.rewritten("content before the read position changed");
        }
        const chunk = readBuffer.subarray(0, bytesRead);
        this.splitter.push(chunk, this.batcher, this.readOffset);
        this.advanceWindow(chunk);
        this.readOffset += bytesRead;
        metrics.bytesRead.inc(bytesRead);
        // A short read means the reader caught up: ship now rather than wait for a full batch.
        if (bytesRead < readBuffer.length) this.batcher.seal();
        await this.shipSealed();
        continue;
      }
      this.batcher.seal();
      await this.shipSealed();
      // Caught up: the end of the file is judged with nothing in flight.
      if (await this.settle()) continue;
      const end = await this.atEndOfFile(drainingBeforeRead);
      if (end) return end;
      this.heartbeatIfDue();
      await this.context.notifier.wait(signal);
    }
    return "drained";
  }

  /** Checks, at the end of the file, whether this generation is over. */
  private async atEndOfFile(drainingBeforeRead: boolean): Promise<GenerationEnd | undefined> {
    const size = await this.file.size();
    this.sizeAtEndBytes = size;
    this.context.metrics.fileSize.set(size);
    if (size < this.readOffset) return this.rewritten(`file shrank from ${this.readOffset} to ${size} bytes`);
    if (!(await this.windowIntact())) return this.rewritten("content before the read position changed");
    const ino = await inodeOf(this.context.path);
    if (ino !== this.file.ino) {
      // Renamed away or deleted. Keep reading it for a grace period: a writer
      // may still hold it open for its last lines.
      const now = Date.now();
      this.rotationSeenAtMs ??= now;
      if (now - this.rotationSeenAtMs >= this.context.rotateGraceMs) {
        this.context.log.info(
          { file: this.file.openedAs, generation: this.generation, committedOffset: this.committedOffset, unshippedBytes: this.readOffset - this.committedOffset },
          "rotated file drained",
        );
        return "rotated";
      }
      return undefined;
    }
    if (drainingBeforeRead) return "drained";
    return undefined;
  }

  private async shipSealed(): Promise<void> {
    for (const batch of this.batcher.takeSealed()) {
      // Batches after one that moved the read position were read from the old one.
      if (await this.settle()) return;
      const ack = this.send(batch);
      // Observed in settle(); until then a lost connection must not count as unhandled.
      ack.catch(() => undefined);
      this.inFlight = { batch, ack };
    }
  }

  private async send(batch: SealedBatch): Promise<BatchAck__Output> {
    const [anchor, fileSize] = await Promise.all([this.file.anchorAt(batch.endOffset), this.file.size()]);
    this.lastSentMs = Date.now();
    return this.connection.ship({
      sequence: this.context.nextSequence(),
      generation: this.generation,
      startOffset: batch.startOffset,
      endOffset: batch.endOffset,
      deltas: batch.deltas,
      rows: batch.rows,
      rejected: batch.rejected,
      anchor: anchor ?? "",
      fileBirthUnixMillis: this.file.birthMs,
      fileSize,
    });
  }

  /** Tells the aggregator the file's size, if nothing was sent for its heartbeat interval. */
  private heartbeatIfDue(): void {
    const intervalMs = this.connection.heartbeatIntervalMs;
    const now = Date.now();
    if (intervalMs === 0 || now - this.lastSentMs < intervalMs) return;
    this.lastSentMs = now;
    this.connection.heartbeat({ generation: this.generation, fileSize: this.sizeAtEndBytes });
  }

  /**
   * Waits for the batch in flight, if any, and acts on its acknowledgement:
   * true when the read position moved, so what was read ahead was dropped.
   */
  private async settle(): Promise<boolean> {
    const flight = this.inFlight;
    if (!flight) return false;
    this.inFlight = undefined;
    const { batch } = flight;
    const ack = await flight.ack;
    const { metrics, log } = this.context;
    metrics.batches.inc({ outcome: ack.outcome.toLowerCase() });
    const committed = Number(ack.committedOffset);
    this.committedOffset = committed;
    metrics.committedOffset.set(committed);
    if (ack.outcome === "APPLIED" || (ack.outcome === "DUPLICATE" && committed <= batch.endOffset)) return false;
    // Another sidecar on the same file is ahead (DUPLICATE past our batch), or
    // our range did not start at the committed offset (OUT_OF_ORDER): read
    // again from where the aggregator stands.
    log.debug({ generation: this.generation, outcome: ack.outcome, committedOffset: committed }, "re-reading from the committed offset");
    await this.reposition(committed);
    return true;
  }

  private async reposition(offset: number): Promise<void> {
    this.readOffset = offset;
    this.splitter.reset(offset);
    this.batcher.discard();
    this.window = await this.file.windowBefore(offset);
  }

  /** True when the bytes just before the read position are still those that were read there. */
  private async windowIntact(): Promise<boolean> {
    if (this.window.length === 0) return true;
    const current = Buffer.alloc(this.window.length);
    const bytes = await this.file.readAt(current, this.readOffset - this.window.length);
    return bytes === current.length && current.equals(this.window);
  }

  private advanceWindow(chunk: Buffer): void {
    if (chunk.length >= ANCHOR_WINDOW_BYTES) {
      this.window = Buffer.from(chunk.subarray(chunk.length - ANCHOR_WINDOW_BYTES));
    } else {
      this.window = Buffer.concat([this.window, chunk]).subarray(-ANCHOR_WINDOW_BYTES);
    }
  }

  private rewritten(why: string): GenerationEnd {
    this.context.log.warn(
      { file: this.file.openedAs, generation: this.generation, committedOffset: this.committedOffset, why },
      "file rewritten in place: starting its next generation",
    );
    return "rewritten";
  }
}

import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  checkIdentifier,
  type DeltaBatch__Output,
  type Heartbeat__Output,
  type Hello__Output,
  type IngestHandlers,
  type Logger,
  type ShipRequest__Output,
  type ShipResponse,
  type Welcome,
} from "@logtally/proto";
import { IngestError, toServiceError } from "./errors";
import { checkFileId, decideBatch, generationId, parseGenerationId, validateBatch, validateHeartbeat } from "./ledger";
import type { AggregatorMetrics } from "./metrics";
import type { SourceActivity } from "./source-activity";
import type { CountStore } from "./store";

type ShipCall = ServerDuplexStream<ShipRequest__Output, ShipResponse>;

/** Where one ingest stream stands. */
type StreamState =
  | { readonly state: "awaiting_hello" }
  | { readonly state: "open"; readonly sourceId: string; sidecarId: string }
  | { readonly state: "closed" };

/** Settings of the Ingest service. */
export interface IngestServiceOptions {
  /** Told to sidecars in the Welcome: how often to send a Heartbeat while idle. */
  readonly heartbeatIntervalMs: number;
}

/**
 * The Ingest service: one bidirectional stream per sidecar. Each message is
 * handled to completion before the next (SQLite commits are synchronous), so
 * acknowledgements leave in the order batches arrived, and each is sent only
 * after its transaction committed. What sidecars report about themselves
 * (connections, heartbeats, file sizes) goes to the live SourceActivity.
 */
export class IngestService {
  private readonly calls = new Map<ShipCall, StreamState>();

  constructor(
    private readonly store: CountStore,
    private readonly metrics: AggregatorMetrics,
    private readonly activity: SourceActivity,
    private readonly options: IngestServiceOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** grpc-js handlers for `logtally.v1.Ingest`. */
  handlers(): IngestHandlers {
    return { Ship: (call: ShipCall) => this.serve(call) };
  }

  /** Ends every open stream with UNAVAILABLE, so sidecars reconnect once the aggregator is back. */
  closeAll(reason: string): void {
    for (const call of [...this.calls.keys()]) this.fail(call, new IngestError(status.UNAVAILABLE, reason));
  }

  private serve(call: ShipCall): void {
    this.calls.set(call, { state: "awaiting_hello" });
    this.metrics.connectedSidecars.set(this.calls.size);
    call.on("data", (request: ShipRequest__Output) => {
      try {
        this.handle(call, request);
      } catch (error) {
        this.fail(call, error);
      }
    });
    call.on("end", () => {
      if (this.forget(call)) call.end();
    });
    call.on("cancelled", () => this.forget(call));
    call.on("error", () => this.forget(call));
  }

  private handle(call: ShipCall, request: ShipRequest__Output): void {
    const stream = this.calls.get(call);
    if (!stream || stream.state === "closed") return;
    if (request.hello) return this.hello(call, stream, request.hello);
    if (request.batch) return this.batch(call, stream, request.batch);
    if (request.heartbeat) return this.heartbeat(stream, request.heartbeat);
    throw new IngestError(status.INVALID_ARGUMENT, "ShipRequest carries neither hello nor batch nor heartbeat");
  }

  private hello(call: ShipCall, stream: StreamState, hello: Hello__Output): void {
    const problem =
      checkIdentifier("source_id", hello.sourceId, { required: true }) ??
      checkFileId(hello.fileId) ??
      checkIdentifier("sidecar_id", hello.sidecarId, { required: false }) ??
      checkIdentifier("supersede_generation", hello.supersedeGeneration, { required: false });
    if (problem) throw new IngestError(status.INVALID_ARGUMENT, problem);
    if (stream.state === "open" && stream.sourceId !== hello.sourceId) {
      throw new IngestError(
        status.INVALID_ARGUMENT,
        `stream belongs to source ${stream.sourceId}; open another stream for ${hello.sourceId}`,
      );
    }
    if (stream.state === "awaiting_hello") {
      this.calls.set(call, { state: "open", sourceId: hello.sourceId, sidecarId: hello.sidecarId });
      this.activity.streamOpened(hello.sourceId, hello.sidecarId);
      this.log.info({ sourceId: hello.sourceId, sidecarId: hello.sidecarId, peer: call.getPeer() }, "sidecar connected");
    }
    const welcome = this.welcome(hello);
    this.log.info(
      { sourceId: hello.sourceId, generation: welcome.generation, committedOffset: welcome.committedOffset, known: welcome.known },
      "file generation announced",
    );
    call.write({ welcome });
  }

  /**
   * Picks the generation a sidecar must ship for a file: the file's latest
   * epoch, or the next one when the sidecar reports the latest rewritten in
   * place. The next epoch is not stored until its first batch (at offset 0)
   * is applied, so two sidecars reporting the same rewrite agree on it.
   */
  private welcome(hello: Hello__Output): Welcome {
    const { sourceId, fileId } = hello;
    const source = this.store.allSources().get(sourceId);
    const sourceCreatedUnixMillis = source?.createdMs ?? 0;
    const sourceLatestFileId = (source && parseGenerationId(source.latestGeneration)?.fileId) ?? "";
    const sourceLatestFileBirthUnixMillis = (source && this.store.generation(sourceId, source.latestGeneration)?.fileBirthMs) ?? 0;
    const sourceFacts = {
      sourceCreatedUnixMillis,
      sourceLatestFileId,
      sourceLatestFileBirthUnixMillis,
      heartbeatIntervalMillis: this.options.heartbeatIntervalMs,
    };
    const latestEpoch = this.store.latestEpoch(sourceId, fileId);
    const latest = latestEpoch > 0 ? generationId(fileId, latestEpoch) : undefined;
    if (latest === undefined || hello.supersedeGeneration === latest) {
      const generation = generationId(fileId, latestEpoch + 1);
      return { sourceId, fileId, generation, committedOffset: 0, anchor: "", known: false, fileBirthUnixMillis: 0, ...sourceFacts };
    }
    const state = this.store.generation(sourceId, latest);
    return {
      sourceId,
      fileId,
      generation: latest,
      committedOffset: state?.committedOffset ?? 0,
      anchor: state?.anchor ?? "",
      known: true,
      fileBirthUnixMillis: state?.fileBirthMs ?? 0,
      ...sourceFacts,
    };
  }

  private batch(call: ShipCall, stream: StreamState, batch: DeltaBatch__Output): void {
    if (stream.state !== "open") throw new IngestError(status.FAILED_PRECONDITION, "send a hello before any batch");
    const problem = validateBatch(batch);
    if (problem) throw new IngestError(status.INVALID_ARGUMENT, `batch ${batch.sequence}: ${problem}`);
    const parsed = parseGenerationId(batch.generation);
    if (!parsed || checkFileId(parsed.fileId)) {
      throw new IngestError(status.INVALID_ARGUMENT, `generation ${JSON.stringify(batch.generation.slice(0, 100))} is malformed`);
    }
    const { sourceId } = stream;
    const nowMs = this.now();
    const committed = this.store.generation(sourceId, batch.generation);
    // A generation becomes known through its first batch, which must be the
    // epoch right after the file's latest (see welcome()).
    if (!committed && parsed.epoch !== this.store.latestEpoch(sourceId, parsed.fileId) + 1) {
      throw new IngestError(status.FAILED_PRECONDITION, `unknown generation ${batch.generation} of source ${sourceId}`);
    }
    const committedOffset = committed?.committedOffset ?? 0;
    const decision = decideBatch(committedOffset, batch.startOffset, batch.endOffset);
    this.activity.heardFrom(sourceId, nowMs, batch.fileSize > 0 ? { generation: batch.generation, sizeBytes: batch.fileSize } : undefined);
    if (decision === "apply") {
      const stopTimer = this.metrics.commitSeconds.startTimer();
      this.store.apply({
        sourceId,
        generation: batch.generation,
        fileId: parsed.fileId,
        epoch: parsed.epoch,
        endOffset: batch.endOffset,
        anchor: batch.anchor,
        fileBirthMs: batch.fileBirthUnixMillis,
        sidecarId: stream.sidecarId,
        deltas: batch.deltas,
        rejected: batch.rejected,
        nowMs,
      });
      stopTimer();
      this.metrics.batches.inc({ outcome: "applied" });
      call.write({
        ack: { sequence: batch.sequence, generation: batch.generation, outcome: "APPLIED", committedOffset: batch.endOffset },
      });
      return;
    }
    this.store.touchSource(sourceId, stream.sidecarId, nowMs);
    this.metrics.batches.inc({ outcome: decision });
    if (decision === "out_of_order") {
      this.log.info(
        { sourceId, generation: batch.generation, startOffset: batch.startOffset, committedOffset },
        "batch out of order: sidecar will re-read from the committed offset",
      );
    }
    call.write({
      ack: {
        sequence: batch.sequence,
        generation: batch.generation,
        outcome: decision === "duplicate" ? "DUPLICATE" : "OUT_OF_ORDER",
        committedOffset,
      },
    });
  }

  /** Records that the sidecar is alive and how large its file is; a heartbeat is never answered. */
  private heartbeat(stream: StreamState, heartbeat: Heartbeat__Output): void {
    if (stream.state !== "open") throw new IngestError(status.FAILED_PRECONDITION, "send a hello before any heartbeat");
    const problem = validateHeartbeat(heartbeat);
    if (problem) throw new IngestError(status.INVALID_ARGUMENT, `heartbeat: ${problem}`);
    this.activity.heardFrom(stream.sourceId, this.now(), { generation: heartbeat.generation, sizeBytes: heartbeat.fileSize });
  }

  private fail(call: ShipCall, error: unknown): void {
    const stream = this.calls.get(call);
    if (!stream || stream.state === "closed") return;
    const serviceError = toServiceError(error);
    const fields = { code: status[serviceError.code], details: serviceError.details, peer: call.getPeer() };
    if (serviceError.code === status.INTERNAL) this.log.error({ ...fields, err: error }, "ingest stream failed");
    else if (serviceError.code !== status.UNAVAILABLE) this.log.warn(fields, "ingest stream refused");
    this.metrics.ingestErrors.inc({ code: status[serviceError.code] ?? String(serviceError.code) });
    if (stream.state === "open") this.activity.streamClosed(stream.sourceId, stream.sidecarId);
    this.calls.set(call, { state: "closed" });
    call.emit("error", serviceError);
    this.forget(call);
  }

  /** Removes a stream from the open set; true if it was still open. */
  private forget(call: ShipCall): boolean {
    const stream = this.calls.get(call);
    if (!stream) return false;
    this.calls.delete(call);
    this.metrics.connectedSidecars.set(this.calls.size);
    if (stream.state === "open") {
      this.activity.streamClosed(stream.sourceId, stream.sidecarId);
      this.log.info({ sourceId: stream.sourceId, sidecarId: stream.sidecarId }, "sidecar disconnected");
    }
    return true;
  }
}

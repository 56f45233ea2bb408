import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  MAX_REQUESTS_IN_FLIGHT,
  type DeltaBatch__Output,
  type Heartbeat__Output,
  type Hello__Output,
  type IngestHandlers,
  type ShipRequest__Output,
  type ShipResponse,
} from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import type { GroupOutcome } from "./batch-group";
import { StatusError } from "../errors";
import type { GroupCommitter } from "./group-commit";
import { checkFileId, parseGenerationId, validateBatch, validateHeartbeat } from "./ledger";
import type { AggregatorMetrics } from "../http/metrics";
import { RefusedPairLog } from "./refused-pair-log";
import type { SourceActivity } from "./source-activity";
import type { Store } from "../store/store";
import { checkHello, welcomeFor } from "./welcome";
import { asRefusal } from "../store/write-failure";
import { describeConflict } from "./metric-registration";
import { describeStreamMetric, sameStreamMetric, seriesDeltas, streamMetricOf, type StreamMetric } from "./stream-metric";

type ShipCall = ServerDuplexStream<ShipRequest__Output, ShipResponse>;

/** Where one ingest stream stands. */
type StreamState =
  | { readonly state: "awaiting_hello"; readonly helloTimer: NodeJS.Timeout }
  | { readonly state: "open"; readonly sourceId: string; sidecarId: string; readonly metric: StreamMetric }
  | { readonly state: "closed" };

/** Settings of the Ingest service. */
export interface IngestServiceOptions {
  /** Told to sidecars in the Welcome: how often to send a Heartbeat while idle. */
  readonly heartbeatIntervalMs: number;
}

/** One ingest stream: where it stands, its requests not yet handled, and its answers not yet handed to the transport. */
interface IngestStream {
  state: StreamState;
  unsentAnswers: number;
  /** Requests received while an earlier one waits for its group commit: handled in order after it. */
  readonly inbox: ShipRequest__Output[];
  /** True while a request of this stream waits for its group commit. */
  waiting: boolean;
  /** The client ended its side: the stream ends once the inbox is handled. */
  halfClosed: boolean;
}

/** Bounds on what ingest streams may hold of the aggregator. */
export interface IngestLimits {
  /** Streams open at once; one more is refused with RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** A stream that sends no Hello within this time is ended with DEADLINE_EXCEEDED. */
  readonly helloTimeoutMs: number;
}

/**
 * Requests waiting in a stream's inbox and answers not yet taken by the
 * transport, together, at most. A sidecar keeps at most
 * MAX_REQUESTS_IN_FLIGHT requests unanswered, one of them being decided, so
 * it stays below this; a peer that pipelines requests without reading the
 * answers would otherwise make them pile up in memory. Answers are counted
 * from when they are written until the transport took them, so the HTTP/2
 * flow-control window a peer leaves unread comes on top.
 */
export const MAX_UNSENT_ANSWERS = MAX_REQUESTS_IN_FLIGHT;

/**
 * The Ingest service: one bidirectional stream per sidecar. Batches go to the
 * group committer; a stream's later requests wait in its inbox until its
 * batch is decided, so each stream's answers leave in the order its requests
 * arrived, and an acknowledgement is sent only after its group committed.
 * What sidecars report about themselves (connections, heartbeats, file
 * sizes) goes to the live SourceActivity.
 *
 * Bounded: at most `maxStreams` streams; a stream must say Hello within
 * `helloTimeoutMs` (a sidecar opens its stream only to say Hello, and once it
 * has, may stay silent for as long as its file does: HTTP/2 keepalive, not a
 * timeout here, finds dead peers); and at most {@link MAX_UNSENT_ANSWERS}
 * answers may wait for a peer to read them.
 */
export class IngestService {
  private readonly calls = new Map<ShipCall, IngestStream>();
  private readonly refusedPairs: RefusedPairLog;

  constructor(
    private readonly store: Store,
    private readonly committer: GroupCommitter,
    private readonly metrics: AggregatorMetrics,
    private readonly activity: SourceActivity,
    private readonly options: IngestServiceOptions,
    private readonly log: Logger,
    private readonly limits: IngestLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.refusedPairs = new RefusedPairLog(store.view.maxSeries, log);
  }

  /** grpc-js handlers for `logtally.v1.Ingest`. */
  handlers(): IngestHandlers {
    return { Ship: (call: ShipCall) => this.serve(call) };
  }

  /** Ends every open stream with UNAVAILABLE, so sidecars reconnect once the aggregator is back. */
  closeAll(reason: string): void {
    for (const call of [...this.calls.keys()]) this.fail(call, new StatusError(status.UNAVAILABLE, reason));
  }

  private serve(call: ShipCall): void {
    const helloTimer = setTimeout(() => {
      this.fail(call, new StatusError(status.DEADLINE_EXCEEDED, `no hello within ${this.limits.helloTimeoutMs} ms`));
    }, this.limits.helloTimeoutMs);
    helloTimer.unref();
    this.calls.set(call, { state: { state: "awaiting_hello", helloTimer }, unsentAnswers: 0, inbox: [], waiting: false, halfClosed: false });
    this.metrics.connectedSidecars.set(this.calls.size);
    if (this.calls.size > this.limits.maxStreams) {
      this.fail(call, new StatusError(status.RESOURCE_EXHAUSTED, `the aggregator serves at most ${this.limits.maxStreams} ingest streams: retry later`));
      return;
    }
    call.on("data", (request: ShipRequest__Output) => this.receive(call, request));
    call.on("end", () => {
      const entry = this.calls.get(call);
      if (!entry) return;
      // Requests still waiting are answered (or refused) before the stream ends.
      entry.halfClosed = true;
      if (!entry.waiting) this.work(call, entry);
    });
    call.on("cancelled", () => this.forget(call));
    call.on("error", () => this.forget(call));
  }

  private receive(call: ShipCall, request: ShipRequest__Output): void {
    const entry = this.calls.get(call);
    if (!entry || entry.state.state === "closed") return;
    if (entry.unsentAnswers + entry.inbox.length >= MAX_UNSENT_ANSWERS) {
      this.fail(
        call,
        new StatusError(status.RESOURCE_EXHAUSTED, `${MAX_UNSENT_ANSWERS} answers are still unread: read each answer before sending the next request`),
      );
      return;
    }
    entry.inbox.push(request);
    if (!entry.waiting) this.work(call, entry);
  }

  /** Handles the stream's requests in order until one waits for a group commit. */
  private work(call: ShipCall, entry: IngestStream): void {
    while (entry.inbox.length > 0 && entry.state.state !== "closed") {
      const request = entry.inbox.shift()!;
      let decided: Promise<void> | undefined;
      try {
        decided = this.handle(call, entry.state, request);
      } catch (error) {
        this.fail(call, error);
        return;
      }
      if (decided) {
        entry.waiting = true;
        decided.then(
          () => {
            entry.waiting = false;
            this.work(call, entry);
          },
          (error: unknown) => this.fail(call, error),
        );
        return;
      }
    }
    if (entry.halfClosed && entry.state.state !== "closed" && this.forget(call)) call.end();
  }

  /** Handles one request; a promise when it waits for a group commit. */
  private handle(call: ShipCall, stream: StreamState, request: ShipRequest__Output): Promise<void> | undefined {
    if (request.hello) return this.hello(call, stream, request.hello);
    if (request.batch) return this.batch(call, stream, request.batch);
    if (request.heartbeat) return this.heartbeat(stream, request.heartbeat);
    throw new StatusError(status.INVALID_ARGUMENT, "ShipRequest carries neither hello nor batch nor heartbeat");
  }

  /** Writes an answer, counting it as unsent until the transport has taken it. */
  private answer(call: ShipCall, response: ShipResponse): void {
    const entry = this.calls.get(call);
    if (!entry) return;
    entry.unsentAnswers++;
    call.write(response, () => entry.unsentAnswers--);
  }

  private async hello(call: ShipCall, stream: StreamState, hello: Hello__Output): Promise<void> {
    const problem = checkHello(hello);
    if (problem) throw new StatusError(status.INVALID_ARGUMENT, problem);
    const metric = streamMetricOf(hello);
    if ("problem" in metric) throw new StatusError(status.INVALID_ARGUMENT, metric.problem);
    if (stream.state === "open" && stream.sourceId !== hello.sourceId) {
      throw new StatusError(status.INVALID_ARGUMENT, `stream belongs to source ${stream.sourceId}; open another stream for ${hello.sourceId}`);
    }
    if (stream.state === "open" && !sameStreamMetric(stream.metric, metric)) {
      throw new StatusError(
        status.INVALID_ARGUMENT,
        `stream counts ${describeStreamMetric(stream.metric)}; open another stream to count ${describeStreamMetric(metric)}`,
      );
    }
    if (stream.state === "awaiting_hello") {
      // The registration below may wait on the database: the Hello has come.
      clearTimeout(stream.helloTimer);
      // Registered, durably, before any Welcome: no batch is counted under a metric the state does not define.
      if (metric.spec) {
        const registration = await this.store.registerMetric(metric.spec).catch((error: unknown) => {
          throw asRefusal(error);
        });
        if (registration.outcome === "conflict") {
          throw new StatusError(status.FAILED_PRECONDITION, describeConflict(registration.definition, metric.spec));
        }
        if (registration.outcome === "registered") {
          this.log.info({ metric: metric.spec.metric, labelNames: metric.spec.labelNames, sourceId: hello.sourceId }, "metric registered");
        }
      }
      const entry = this.calls.get(call);
      // Gone while the metric was registered (the sidecar hung up, the aggregator is stopping).
      if (!entry || entry.state.state === "closed") return;
      entry.state = { state: "open", sourceId: hello.sourceId, sidecarId: hello.sidecarId, metric };
      this.activity.streamOpened(hello.sourceId, hello.sidecarId);
      this.log.info({ sourceId: hello.sourceId, sidecarId: hello.sidecarId, peer: call.getPeer() }, "sidecar connected");
    }
    // With a shared store another aggregator may have counted more of this file: the Welcome says the latest.
    await this.store.refresh().catch((error: unknown) => {
      throw asRefusal(error);
    });
    const welcome = welcomeFor(this.store.view, hello, this.options.heartbeatIntervalMs);
    this.log.info(
      { sourceId: hello.sourceId, generation: welcome.generation, committedOffset: welcome.committedOffset, known: welcome.known },
      "file generation announced",
    );
    this.answer(call, { welcome });
  }

  private async batch(call: ShipCall, stream: StreamState, batch: DeltaBatch__Output): Promise<void> {
    if (stream.state !== "open") throw new StatusError(status.FAILED_PRECONDITION, "send a hello before any batch");
    const problem = validateBatch(batch, stream.metric.spec);
    if (problem) throw new StatusError(status.INVALID_ARGUMENT, `batch ${batch.sequence}: ${problem}`);
    const parsed = parseGenerationId(batch.generation);
    if (!parsed || checkFileId(parsed.fileId)) {
      throw new StatusError(status.INVALID_ARGUMENT, `generation ${JSON.stringify(batch.generation.slice(0, 100))} is malformed`);
    }
    const { sourceId, sidecarId } = stream;
    const nowMs = this.now();
    const outcome = await this.committer.submit({
      sourceId,
      sidecarId,
      generation: batch.generation,
      fileId: parsed.fileId,
      epoch: parsed.epoch,
      startOffset: batch.startOffset,
      endOffset: batch.endOffset,
      anchor: batch.anchor,
      fileBirthMs: batch.fileBirthUnixMillis,
      filePath: batch.filePath,
      deltas: seriesDeltas(batch.deltas, stream.metric),
      rejected: batch.rejected,
      nowMs,
    });
    this.acknowledge(call, sourceId, sidecarId, batch, outcome, nowMs);
  }

  private acknowledge(call: ShipCall, sourceId: string, sidecarId: string, batch: DeltaBatch__Output, outcome: GroupOutcome, nowMs: number): void {
    if (outcome.decision === "unknown_generation") {
      throw new StatusError(status.FAILED_PRECONDITION, `unknown generation ${batch.generation} of source ${sourceId}`);
    }
    this.activity.heardFrom(sourceId, nowMs, batch.fileSize > 0 ? { generation: batch.generation, sizeBytes: batch.fileSize } : undefined);
    const { sequence, generation } = batch;
    if (outcome.decision === "apply") {
      this.metrics.batches.inc({ outcome: "applied" });
      this.refusedPairs.report(sourceId, outcome.refusedBySeriesLimit);
      this.answer(call, { ack: { sequence, generation, outcome: "APPLIED", committedOffset: outcome.committedOffset } });
      return;
    }
    const { decision, committedOffset } = outcome;
    this.store.view.touchSource(sourceId, sidecarId, nowMs);
    this.metrics.batches.inc({ outcome: decision });
    if (decision === "out_of_order") {
      this.log.info(
        { sourceId, generation, startOffset: batch.startOffset, committedOffset },
        "batch out of order: sidecar will re-read from the committed offset",
      );
    }
    this.answer(call, { ack: { sequence, generation, outcome: decision === "duplicate" ? "DUPLICATE" : "OUT_OF_ORDER", committedOffset } });
  }

  /** Records that the sidecar is alive and how large its file is; a heartbeat is never answered. */
  private heartbeat(stream: StreamState, heartbeat: Heartbeat__Output): undefined {
    if (stream.state !== "open") throw new StatusError(status.FAILED_PRECONDITION, "send a hello before any heartbeat");
    const problem = validateHeartbeat(heartbeat);
    if (problem) throw new StatusError(status.INVALID_ARGUMENT, `heartbeat: ${problem}`);
    this.activity.heardFrom(stream.sourceId, this.now(), { generation: heartbeat.generation, sizeBytes: heartbeat.fileSize });
    return undefined;
  }

  private fail(call: ShipCall, error: unknown): void {
    const entry = this.calls.get(call);
    if (!entry || entry.state.state === "closed") return;
    const statusError = StatusError.from(error);
    const fields = { ...statusError.logFields(), peer: call.getPeer() };
    if (statusError.code === status.INTERNAL) this.log.error(fields, "ingest stream failed");
    else if (statusError.code !== status.UNAVAILABLE) this.log.warn(fields, "ingest stream refused");
    this.metrics.ingestErrors.inc({ code: status[statusError.code] ?? String(statusError.code) });
    if (entry.state.state === "open") this.activity.streamClosed(entry.state.sourceId, entry.state.sidecarId);
    this.endState(entry, { state: "closed" });
    call.emit("error", statusError.toServiceError());
    this.forget(call);
  }

  /** Removes a stream from the open set; true if it was still open. */
  private forget(call: ShipCall): boolean {
    const entry = this.calls.get(call);
    if (!entry) return false;
    const stream = entry.state;
    this.endState(entry, { state: "closed" });
    this.calls.delete(call);
    this.metrics.connectedSidecars.set(this.calls.size);
    if (stream.state === "open") {
      this.activity.streamClosed(stream.sourceId, stream.sidecarId);
      this.log.info({ sourceId: stream.sourceId, sidecarId: stream.sidecarId }, "sidecar disconnected");
    }
    return true;
  }

  /** Leaves a stream's state for `next`, stopping its hello timer; a stream leaving for good drops its unhandled requests. */
  private endState(entry: IngestStream, next: StreamState): void {
    if (entry.state.state === "awaiting_hello") clearTimeout(entry.state.helloTimer);
    entry.state = next;
    if (next.state === "closed") entry.inbox.length = 0;
  }
}

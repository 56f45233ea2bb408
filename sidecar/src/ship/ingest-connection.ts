import * as grpc from "@grpc/grpc-js";
import {
  MAX_MESSAGE_BYTES,
  MAX_REQUESTS_IN_FLIGHT,
  STATE_UNWRITABLE_PREFIX,
  loadLogtallyGrpc,
  type BatchAck__Output,
  type DeltaBatch,
  type Heartbeat,
  type Hello,
  type IngestClient,
  type ShipRequest,
  type ShipResponse__Output,
  type Welcome__Output,
} from "@logtally/proto";
import type { ChannelSecurity } from "./channel-security";

/** The stream to the aggregator broke, or an answer did not come in time: reconnect and resume. */
export class ConnectionLost extends Error {
  override readonly name = "ConnectionLost";
  /**
   * Set when the aggregator itself refused to count for now (its state is
   * read-only, its disk full): its reason, as it said it.
   */
  readonly refusal: string | undefined;
  /** The aggregator's message, when it ended the stream with a status. */
  readonly details: string;

  constructor(
    message: string,
    readonly code?: grpc.status,
    options?: { cause?: unknown; details?: string },
  ) {
    super(message, options);
    const details = options?.details ?? "";
    this.details = details;
    const refusing = code === grpc.status.UNAVAILABLE || code === grpc.status.RESOURCE_EXHAUSTED;
    this.refusal = refusing && details.startsWith(STATE_UNWRITABLE_PREFIX) ? details : undefined;
  }
}

/**
 * The aggregator refused the counting spec of a Hello (FAILED_PRECONDITION):
 * its metric is counted with other labels. Retrying cannot help: the
 * sidecar's flags must change. `message` is the aggregator's reason.
 */
export class SpecRefused extends Error {
  override readonly name = "SpecRefused";
}

/**
 * The aggregator answered a Hello with a counting spec without saying it
 * counts specs (Welcome.counting_specs false): it predates them and would
 * count nothing of this sidecar's rows. It must be upgraded.
 */
export class SpecsNotSupported extends Error {
  override readonly name = "SpecsNotSupported";
}

/**
 * Creates the gRPC client for the aggregator at `address` (host:port), with
 * the channel's credentials and options (see channel-security.ts).
 */
export function createIngestClient(address: string, security: Pick<ChannelSecurity, "credentials" | "options">): IngestClient {
  const { Ingest } = loadLogtallyGrpc().logtally.v1;
  return new Ingest(address, security.credentials, {
    ...security.options,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    // HTTP/2 pings while the stream is open: a sidecar on an idle file sends
    // nothing for as long as the file is idle, so only the pings find an
    // aggregator gone without a word (within 80 s), and they keep NATs and
    // proxies from dropping the idle connection.
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    // Fail fast when the aggregator is down; the sidecar owns the retry policy.
    "grpc.enable_retries": 0,
  });
}

interface Pending {
  readonly expects: "welcome" | "ack";
  readonly sequence?: number;
  resolve(response: ShipResponse__Output): void;
  reject(error: Error): void;
}

/**
 * One Ingest stream, used as request/response: a Hello gets a Welcome, a
 * batch gets its acknowledgement. Up to `maxOutstanding` requests may await
 * their answers at once (the aggregator answers a stream's requests in the
 * order they came), so a sidecar holds at most that many batches beyond what
 * the aggregator has committed. A heartbeat is not a request: the aggregator
 * never answers it, so it can be sent at any time without disturbing that
 * pairing.
 *
 * The stream opens with the first request, not before: a sidecar waiting for
 * its file to appear (or to get a first line) holds no stream, and so never
 * meets the aggregator's timeout for streams that do not say Hello.
 */
export class IngestConnection {
  private call: grpc.ClientDuplexStream<ShipRequest, ShipResponse__Output> | undefined;
  /** Requests awaiting their answers, oldest first: answers come in this order. */
  private readonly pending: Pending[] = [];
  private failure: ConnectionLost | undefined;
  /** From the latest Welcome: 0 when the aggregator does not take heartbeats. */
  private heartbeatIntervalMillis = 0;
  /** The signal of the requests, listened to until the connection fails (see watch()). */
  private watched: AbortSignal | undefined;

  /**
   * `metadata` is sent when the stream opens (the bearer token, if any);
   * `maxOutstanding` requests may await their answers at once, at most
   * MAX_REQUESTS_IN_FLIGHT (what the aggregator lets a stream send ahead).
   */
  constructor(
    private readonly client: IngestClient,
    private readonly responseTimeoutMs: number,
    private readonly metadata: grpc.Metadata = new grpc.Metadata(),
    private readonly maxOutstanding = 1,
  ) {
    if (!Number.isInteger(maxOutstanding) || maxOutstanding < 1 || maxOutstanding > MAX_REQUESTS_IN_FLIGHT) {
      throw new RangeError(`requests in flight must be 1 to ${MAX_REQUESTS_IN_FLIGHT}, not ${maxOutstanding}`);
    }
  }

  /**
   * Announces a file; resolves with the aggregator's view of its generation.
   * When `signal` aborts first, rejects with ConnectionLost and ends the
   * stream: a drain or stop never waits for an answer that may not come.
   * A Hello with a spec rejects with SpecRefused when the aggregator refuses
   * the spec, and with SpecsNotSupported (ending the stream) when it does not
   * know specs.
   */
  async hello(hello: Hello, signal: AbortSignal): Promise<Welcome__Output> {
    let response: ShipResponse__Output;
    try {
      response = await this.request({ hello }, { expects: "welcome" }, signal);
    } catch (error) {
      if (hello.spec && error instanceof ConnectionLost && error.code === grpc.status.FAILED_PRECONDITION) {
        throw new SpecRefused(error.details || error.message, { cause: error });
      }
      throw error;
    }
    if (hello.spec && !response.welcome!.countingSpecs) {
      this.close();
      throw new SpecsNotSupported(`the aggregator does not count metrics of a counting spec (${hello.spec.metric}): upgrade it`);
    }
    const interval = Number(response.welcome!.heartbeatIntervalMillis);
    this.heartbeatIntervalMillis = Number.isSafeInteger(interval) && interval > 0 ? interval : 0;
    return response.welcome!;
  }

  /**
   * How often the aggregator wants a heartbeat while nothing else is sent
   * (milliseconds); 0 when it takes none: an older aggregator would end the
   * stream on one.
   */
  get heartbeatIntervalMs(): number {
    return this.heartbeatIntervalMillis;
  }

  /** Sends a heartbeat, if the aggregator takes them and the stream is up; no answer comes. */
  heartbeat(heartbeat: Heartbeat): void {
    if (this.failure || this.heartbeatIntervalMillis === 0 || !this.call) return;
    this.call.write({ heartbeat });
  }

  /**
   * Ships a batch; resolves once the aggregator acknowledged it durably.
   * `signal` as for hello(). Batches of one stream are decided in the order
   * they were shipped, each on its own.
   */
  async ship(batch: DeltaBatch & { sequence: number }, signal: AbortSignal): Promise<BatchAck__Output> {
    const response = await this.request({ batch }, { expects: "ack", sequence: batch.sequence }, signal);
    return response.ack!;
  }

  /** Ends the stream; pending requests fail with ConnectionLost. Idempotent. */
  close(): void {
    this.fail(new ConnectionLost("connection closed"));
    this.call?.cancel();
  }

  private open(): grpc.ClientDuplexStream<ShipRequest, ShipResponse__Output> {
    if (this.call) return this.call;
    const call = this.client.Ship(this.metadata);
    call.on("data", (response: ShipResponse__Output) => this.receive(response));
    call.on("error", (error: grpc.ServiceError) => {
      this.fail(
        new ConnectionLost(`ingest stream failed: ${grpc.status[error.code] ?? error.code} ${error.details}`, error.code, {
          cause: error,
          details: error.details,
        }),
      );
    });
    call.on("end", () => this.fail(new ConnectionLost("ingest stream ended by the aggregator")));
    this.call = call;
    return call;
  }

  private request(message: ShipRequest, expected: Pick<Pending, "expects" | "sequence">, signal: AbortSignal): Promise<ShipResponse__Output> {
    if (signal.aborted) return Promise.reject(new ConnectionLost("stopping: request not sent"));
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.length >= this.maxOutstanding) {
      return Promise.reject(new Error(`${this.pending.length} requests are already outstanding on this stream`));
    }
    const call = this.open();
    return new Promise<ShipResponse__Output>((resolve, reject) => {
      const giveUp = (error: ConnectionLost): void => {
        this.fail(error);
        call.cancel();
      };
      const timer = setTimeout(() => giveUp(new ConnectionLost(`no answer from the aggregator within ${this.responseTimeoutMs} ms`)), this.responseTimeoutMs);
      timer.unref();
      this.watch(signal);
      this.pending.push({
        ...expected,
        resolve: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      call.write(message);
    });
  }

  /**
   * Listens to `signal` until the connection fails: when it aborts, the
   * requests outstanding are given up. Once per connection, not per request:
   * an abort listener costs more to add and remove than the request's timer,
   * and a busy file sends a few requests a second.
   */
  private watch(signal: AbortSignal): void {
    if (this.watched === signal) return;
    this.unwatch();
    signal.addEventListener("abort", this.abandonPending, { once: true });
    this.watched = signal;
  }

  private unwatch(): void {
    this.watched?.removeEventListener("abort", this.abandonPending);
    this.watched = undefined;
  }

  private readonly abandonPending = (): void => {
    if (this.pending.length === 0) return;
    this.fail(new ConnectionLost("stopping: the answer was not awaited"));
    this.call?.cancel();
  };

  private receive(response: ShipResponse__Output): void {
    const pending = this.pending.shift();
    const matches =
      pending &&
      ((pending.expects === "welcome" && response.welcome) ||
        (pending.expects === "ack" && response.ack && Number(response.ack.sequence) === pending.sequence));
    if (!pending || !matches) {
      this.fail(new ConnectionLost("unexpected message from the aggregator"));
      this.call?.cancel();
      pending?.reject(this.failure!);
      return;
    }
    pending.resolve(response);
  }

  private fail(error: ConnectionLost): void {
    this.failure ??= error;
    this.unwatch();
    for (const pending of this.pending.splice(0)) pending.reject(this.failure);
  }
}

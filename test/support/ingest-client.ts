import * as grpc from "@grpc/grpc-js";
import {
  loadLogtallyGrpc,
  type BatchAck__Output,
  type DeltaBatch,
  type Heartbeat,
  type IngestClient,
  type ShipRequest,
  type ShipResponse__Output,
  type Welcome__Output,
} from "@logtally/proto";
import type { ClientAccess } from "./query";

const STEP_TIMEOUT_MS = 15_000;

/** A batch as a test writes it: the generation is the welcomed one. */
export type TestBatch = Omit<DeltaBatch, "generation">;

/**
 * Acts as a sidecar over real gRPC on one Ingest stream: says Hello for
 * `fileId` of `sourceId`, then ships batches in the welcomed generation one
 * at a time, and may send heartbeats. Rejects when the aggregator answers
 * anything but what a sidecar expects.
 */
export class IngestStream {
  private readonly client: IngestClient;
  private readonly call: grpc.ClientDuplexStream<ShipRequest, ShipResponse__Output>;
  private readonly responses: AsyncIterator<ShipResponse__Output>;
  private welcomed: Welcome__Output | undefined;

  private constructor(address: string, timeoutMs: number, access: ClientAccess) {
    const { Ingest } = loadLogtallyGrpc().logtally.v1;
    this.client = new Ingest(address, access.credentials ?? grpc.credentials.createInsecure(), access.options);
    this.call = this.client.Ship(access.metadata ?? new grpc.Metadata(), { deadline: Date.now() + timeoutMs });
    this.responses = this.call[Symbol.asyncIterator]() as AsyncIterator<ShipResponse__Output>;
  }

  /**
   * Opens a stream and says hello; resolves once welcomed. `access` says how
   * to connect: plaintext without metadata unless given.
   */
  static async open(
    address: string,
    {
      sourceId,
      fileId = "1-test",
      sidecarId = "test",
      timeoutMs = STEP_TIMEOUT_MS,
      access = {},
    }: { sourceId: string; fileId?: string; sidecarId?: string; timeoutMs?: number; access?: ClientAccess },
  ): Promise<IngestStream> {
    const stream = new IngestStream(address, timeoutMs, access);
    try {
      stream.call.write({ hello: { sourceId, fileId, sidecarId, supersedeGeneration: "" } });
      stream.welcomed = (await stream.next("welcome")).welcome!;
      return stream;
    } catch (error) {
      stream.close();
      throw error;
    }
  }

  /** The aggregator's Welcome. */
  get welcome(): Welcome__Output {
    return this.welcomed!;
  }

  /** Ships a batch of the welcomed generation; resolves with its acknowledgement. */
  async ship(batch: TestBatch): Promise<BatchAck__Output> {
    this.call.write({ batch: { ...batch, generation: this.welcome.generation } });
    return (await this.next("ack")).ack!;
  }

  /** Sends a heartbeat (never answered). */
  heartbeat(heartbeat: Heartbeat): void {
    this.call.write({ heartbeat });
  }

  /** Cancels the stream and closes the client; idempotent. */
  close(): void {
    this.call.cancel();
    this.client.close();
  }

  private async next(expected: "welcome" | "ack"): Promise<ShipResponse__Output> {
    const { value, done } = await this.responses.next();
    if (done || !value[expected]) throw new Error(`expected a ${expected} on the Ingest stream, got ${done ? "its end" : JSON.stringify(value)}`);
    return value;
  }
}

/**
 * Acts as a sidecar for one exchange: Hello for `fileId` of `sourceId`, and
 * `batch` (if given) in the welcomed generation. Resolves with the Welcome
 * and the acknowledgement; rejects if the aggregator answers anything else.
 */
export async function shipAsSidecar(
  address: string,
  { sourceId, fileId = "1-test", batch, access = {} }: { sourceId: string; fileId?: string; batch?: TestBatch; access?: ClientAccess },
): Promise<{ welcome: Welcome__Output; ack?: BatchAck__Output }> {
  const stream = await IngestStream.open(address, { sourceId, fileId, access });
  try {
    return { welcome: stream.welcome, ack: batch && (await stream.ship(batch)) };
  } finally {
    stream.close();
  }
}

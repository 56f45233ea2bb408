import * as grpc from "@grpc/grpc-js";
import { loadLogtallyGrpc, type DeltaBatch, type ShipResponse__Output, type Welcome__Output } from "@logtally/proto";

const STEP_TIMEOUT_MS = 15_000;

/**
 * Acts as a sidecar over real gRPC: opens an Ingest stream, says Hello for
 * `fileId` of `sourceId`, and ships `batch` (if given) in the welcomed
 * generation. Resolves with the Welcome and the acknowledgement; rejects if
 * the aggregator answers anything else.
 */
export async function shipAsSidecar(
  address: string,
  { sourceId, fileId = "1-test", batch }: { sourceId: string; fileId?: string; batch?: Omit<DeltaBatch, "generation"> },
): Promise<{ welcome: Welcome__Output; ack?: ShipResponse__Output["ack"] }> {
  const { Ingest } = loadLogtallyGrpc().logtally.v1;
  const client = new Ingest(address, grpc.credentials.createInsecure());
  const call = client.Ship({ deadline: Date.now() + STEP_TIMEOUT_MS });
  const responses = call[Symbol.asyncIterator]() as AsyncIterator<ShipResponse__Output>;
  const next = async (expected: "welcome" | "ack"): Promise<ShipResponse__Output> => {
    const { value, done } = await responses.next();
    if (done || !value[expected]) throw new Error(`expected a ${expected} on the Ingest stream, got ${done ? "its end" : JSON.stringify(value)}`);
    return value;
  };
  try {
    call.write({ hello: { sourceId, fileId, sidecarId: "test", supersedeGeneration: "" } });
    const welcome = (await next("welcome")).welcome!;
    if (!batch) return { welcome };
    call.write({ batch: { ...batch, generation: welcome.generation } });
    return { welcome, ack: (await next("ack")).ack };
  } finally {
    call.cancel();
    client.close();
  }
}

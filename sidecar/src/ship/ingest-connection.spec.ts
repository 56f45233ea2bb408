import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { MAX_REQUESTS_IN_FLIGHT, loadLogtallyGrpc, type BatchAck__Output, type ShipRequest__Output, type ShipResponse } from "@logtally/proto";
import { freePort } from "@logtally/testing";
import { ConnectionLost, IngestConnection, createIngestClient } from "./ingest-connection";

const BATCH = { sequence: 1, generation: "f#1", startOffset: 0, endOffset: 6, deltas: [], rows: 0, rejected: [], anchor: "" };

type ServerCall = grpc.ServerDuplexStream<ShipRequest__Output, ShipResponse>;

/** A real Ingest server that takes streams and never answers them. */
let silent: grpc.Server;
let silentAddress: string;

/** A real Ingest server that hands each stream's requests to the test, which answers them as it likes. */
let scripted: grpc.Server;
let scriptedAddress: string;
let onRequest: (call: ServerCall, request: ShipRequest__Output) => void = () => undefined;

async function serve(handler: (call: ServerCall) => void): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(loadLogtallyGrpc().logtally.v1.Ingest.service, { Ship: handler });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { server, address: `127.0.0.1:${port}` };
}

before(async () => {
  ({ server: silent, address: silentAddress } = await serve((call) => call.on("data", () => undefined)));
  ({ server: scripted, address: scriptedAddress } = await serve((call) => call.on("data", (request: ShipRequest__Output) => onRequest(call, request))));
});

after(() => {
  silent.forceShutdown();
  scripted.forceShutdown();
});

/** The acknowledgement of the batch `sequence`: applied, up to `committedOffset`. */
function ackOf(sequence: number, committedOffset: number): ShipResponse {
  return { ack: { sequence, generation: BATCH.generation, outcome: "APPLIED", committedOffset } };
}

function clientOf(address: string) {
  return createIngestClient(address, { credentials: grpc.credentials.createInsecure(), options: {} });
}

/** Ships batch 1 ([0, 6)) and batch 2 ([6, 12)) without waiting for either answer. */
function shipTwo(connection: IngestConnection, signal: AbortSignal): [Promise<BatchAck__Output>, Promise<BatchAck__Output>] {
  return [connection.ship({ ...BATCH, sequence: 1 }, signal), connection.ship({ ...BATCH, sequence: 2, startOffset: 6, endOffset: 12 }, signal)];
}

test("an abort gives up the request outstanding, and the connection stops listening to the signal", async () => {
  const client = clientOf(silentAddress);
  try {
    const controller = new AbortController();
    const connection = new IngestConnection(client, 60_000);
    const shipping = connection.ship(BATCH, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(getEventListeners(controller.signal, "abort").length, 1, "listening while the request is outstanding");
    controller.abort();
    await assert.rejects(shipping, (error: unknown) => error instanceof ConnectionLost && /not awaited/.test(error.message));
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  } finally {
    client.close();
  }
});

test("connections that fail leave no listener on the signal they shared", async () => {
  const client = clientOf(`127.0.0.1:${await freePort()}`);
  try {
    const controller = new AbortController();
    for (let attempt = 0; attempt < 20; attempt++) {
      const connection = new IngestConnection(client, 60_000);
      await assert.rejects(connection.ship(BATCH, controller.signal), ConnectionLost);
      connection.close();
    }
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  } finally {
    client.close();
  }
});

test("requests in flight together are answered in the order they were sent", async () => {
  const client = clientOf(scriptedAddress);
  const received: number[] = [];
  onRequest = (call, request) => {
    received.push(Number(request.batch!.sequence));
    // Both answers leave together, once both requests came: the first could not have been answered alone.
    if (received.length === 2) for (const sequence of received) call.write(ackOf(sequence, sequence * 6));
  };
  try {
    const controller = new AbortController();
    const connection = new IngestConnection(client, 60_000, undefined, 2);
    const [first, second] = shipTwo(connection, controller.signal);
    const [firstAck, secondAck] = await Promise.all([first, second]);
    assert.deepEqual([Number(firstAck.sequence), Number(firstAck.committedOffset)], [1, 6]);
    assert.deepEqual([Number(secondAck.sequence), Number(secondAck.committedOffset)], [2, 12]);
    connection.close();
  } finally {
    onRequest = () => undefined;
    client.close();
  }
});

test("no more requests are sent than may be in flight", async () => {
  const client = clientOf(silentAddress);
  try {
    const controller = new AbortController();
    const connection = new IngestConnection(client, 60_000, undefined, 2);
    const inFlight = shipTwo(connection, controller.signal);
    for (const shipping of inFlight) shipping.catch(() => undefined);
    await assert.rejects(connection.ship({ ...BATCH, sequence: 3 }, controller.signal), /2 requests are already outstanding/);
    // The refusal is the caller's mistake, not the connection's: the requests in flight still wait for their answers.
    controller.abort();
    for (const shipping of inFlight) await assert.rejects(shipping, /not awaited/);
  } finally {
    client.close();
  }
});

test("an answer out of order fails every request in flight", async () => {
  const client = clientOf(scriptedAddress);
  const received: number[] = [];
  onRequest = (call, request) => {
    received.push(Number(request.batch!.sequence));
    if (received.length === 2) call.write(ackOf(2, 12));
  };
  try {
    const controller = new AbortController();
    const connection = new IngestConnection(client, 60_000, undefined, 2);
    const [first, second] = shipTwo(connection, controller.signal);
    await assert.rejects(first, (error: unknown) => error instanceof ConnectionLost && /unexpected message/.test(error.message));
    await assert.rejects(second, (error: unknown) => error instanceof ConnectionLost && /unexpected message/.test(error.message));
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  } finally {
    onRequest = () => undefined;
    client.close();
  }
});

test("an abort gives up every request in flight", async () => {
  const client = clientOf(silentAddress);
  try {
    const controller = new AbortController();
    const connection = new IngestConnection(client, 60_000, undefined, MAX_REQUESTS_IN_FLIGHT);
    const inFlight = Array.from({ length: MAX_REQUESTS_IN_FLIGHT }, (_, index) => connection.ship({ ...BATCH, sequence: index + 1 }, controller.signal));
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    for (const shipping of inFlight) await assert.rejects(shipping, (error: unknown) => error instanceof ConnectionLost && /not awaited/.test(error.message));
  } finally {
    client.close();
  }
});

test("requests in flight are bounded by what the aggregator takes", () => {
  const client = clientOf(silentAddress);
  try {
    for (const outOfRange of [0, MAX_REQUESTS_IN_FLIGHT + 1, 1.5]) {
      assert.throws(() => new IngestConnection(client, 60_000, undefined, outOfRange), RangeError);
    }
  } finally {
    client.close();
  }
});

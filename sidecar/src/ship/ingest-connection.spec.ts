import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import * as net from "node:net";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadLogtallyGrpc } from "@logtally/proto";
import { ConnectionLost, IngestConnection, createIngestClient } from "./ingest-connection";

const BATCH = { sequence: 1, generation: "f#1", startOffset: 0, endOffset: 6, deltas: [], rows: 0, rejected: [], anchor: "" };

/** A real Ingest server that takes streams and never answers them. */
let silent: grpc.Server;
let silentAddress: string;

before(async () => {
  silent = new grpc.Server();
  silent.addService(loadLogtallyGrpc().logtally.v1.Ingest.service, {
    Ship: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.on("data", () => undefined),
  });
  const port = await new Promise<number>((resolve, reject) =>
    silent.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  silentAddress = `127.0.0.1:${port}`;
});

after(() => silent.forceShutdown());

function clientOf(address: string) {
  return createIngestClient(address, { credentials: grpc.credentials.createInsecure(), options: {} });
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
  const client = clientOf(`127.0.0.1:${await closedPort()}`);
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

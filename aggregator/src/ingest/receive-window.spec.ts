import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { loadLogtallyGrpc } from "@logtally/proto";
import { RECEIVE_WINDOW_BYTES, widenReceiveWindows } from "./receive-window";

/** HTTP/2's initial window, which grpc-js's server keeps unless told otherwise. */
const DEFAULT_WINDOW_BYTES = 65_535;

let server: grpc.Server;
let port: number;

before(async () => {
  server = new grpc.Server();
  server.addService(loadLogtallyGrpc().logtally.v1.Ingest.service, {
    // Headers at once: the client then knows the server saw the stream.
    Ship: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.sendMetadata(new grpc.Metadata()),
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
});

after(() => server.forceShutdown());

/**
 * Opens an Ingest stream with a plain HTTP/2 client and returns the windows
 * the server granted it: the initial window of each stream, and what the
 * connection may send.
 */
async function windowsGranted(): Promise<{ streamWindowBytes: number; connectionWindowBytes: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => session.once("connect", () => resolve()).once("error", reject));
    const stream = session.request({ ":method": "POST", ":path": "/logtally.v1.Ingest/Ship", "content-type": "application/grpc", te: "trailers" });
    stream.on("error", () => undefined);
    // The server's response headers follow the SETTINGS and WINDOW_UPDATE frames it sent on seeing the stream.
    await new Promise<void>((resolve, reject) => stream.once("response", () => resolve()).once("error", reject));
    return { streamWindowBytes: session.remoteSettings.initialWindowSize ?? DEFAULT_WINDOW_BYTES, connectionWindowBytes: session.state.remoteWindowSize ?? 0 };
  } finally {
    session.destroy();
  }
}

test("connections and their streams get the wide receive window", async () => {
  const narrow = widenReceiveWindows();
  try {
    const granted = await windowsGranted();
    assert.equal(granted.streamWindowBytes, RECEIVE_WINDOW_BYTES);
    assert.equal(granted.connectionWindowBytes, RECEIVE_WINDOW_BYTES);
  } finally {
    narrow();
  }
});

test("without it, and once stopped, grpc-js grants HTTP/2's default", async () => {
  const granted = await windowsGranted();
  assert.equal(granted.streamWindowBytes, DEFAULT_WINDOW_BYTES);
  assert.equal(granted.connectionWindowBytes, DEFAULT_WINDOW_BYTES);
});

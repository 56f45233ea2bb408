import { test, type TestContext } from "node:test";
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { startAggregator } from "../support/processes";
import { TcpFaultProxy } from "../support/tcp-proxy";
import { waitFor } from "../support/wait";

const TEST_TIMEOUT_MS = 60_000;
const WAIT_TIMEOUT_MS = 15_000;
/** How long "nothing arrives" is watched for. */
const QUIET_MS = 300;
const MiB = 1024 * 1024;

/** Registers cleanup steps that run after the test, pass or fail, last registered first. */
function teardown(t: TestContext): (step: () => unknown) => void {
  const steps: Array<() => unknown> = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (step) => steps.push(step);
}

/** A TCP echo server that also keeps its sockets and what each received, for the test to look at. */
interface EchoServer {
  readonly port: number;
  readonly sockets: net.Socket[];
  /** Bytes received per accepted socket, in accept order. */
  readonly receivedBytes: number[];
}

async function startEchoServer(defer: (step: () => unknown) => void): Promise<EchoServer> {
  const echo: EchoServer = { port: 0, sockets: [], receivedBytes: [] };
  const server = net.createServer((socket) => {
    const index = echo.sockets.push(socket) - 1;
    echo.receivedBytes.push(0);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      echo.receivedBytes[index]! += chunk.length;
      socket.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of echo.sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return Object.assign(echo, { port: (server.address() as net.AddressInfo).port });
}

async function startProxy(defer: (step: () => unknown) => void, port: number): Promise<TcpFaultProxy> {
  const proxy = await TcpFaultProxy.start({ host: "127.0.0.1", port });
  defer(() => proxy.stop());
  return proxy;
}

/** A client socket that collects what it receives and notes its close. */
class Client {
  readonly socket: net.Socket;
  private readonly chunks: Buffer[] = [];
  receivedLength = 0;
  /** When (performance.now()) each chunk arrived, and the offset just past it. */
  readonly arrivals: Array<{ endOffset: number; atMs: number }> = [];
  readonly closed: Promise<void>;
  readonly connected: Promise<void>;

  constructor(port: number, defer: (step: () => unknown) => void) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.on("error", () => undefined);
    this.socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.receivedLength += chunk.length;
      this.arrivals.push({ endOffset: this.receivedLength, atMs: performance.now() });
    });
    this.closed = new Promise((resolve) => this.socket.once("close", () => resolve()));
    this.connected = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    defer(() => this.socket.destroy());
  }

  /** When the byte at `offset` arrived. */
  arrivalOf(offset: number): number {
    const arrival = this.arrivals.find((candidate) => candidate.endOffset > offset);
    assert.ok(arrival, `no byte at offset ${offset} has arrived`);
    return arrival.atMs;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Waits until at least `length` bytes have arrived in total. */
  async receive(length: number): Promise<Buffer> {
    await waitFor(() => (this.receivedLength >= length ? true : undefined), {
      timeoutMs: WAIT_TIMEOUT_MS,
      intervalMs: 5,
      describe: () => `${length} bytes (have ${this.receivedLength})`,
    });
    return this.received();
  }

  /** Sends `bytes` and waits for their echo; the total so far must be `expected`. */
  async roundTrip(bytes: Buffer, expected: Buffer): Promise<void> {
    this.socket.write(bytes);
    assert.ok((await this.receive(expected.length)).equals(expected), "echo differs from what was sent");
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves within `timeoutMs` or fails naming `what`. */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = WAIT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test("pass mode echoes 1 MiB of random bytes exactly and counts them", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  assert.equal(proxy.address, `127.0.0.1:${proxy.port}`);

  const client = new Client(proxy.port, defer);
  const payload = randomBytes(MiB);
  client.socket.write(payload);
  assert.ok((await client.receive(payload.length)).equals(payload), "1 MiB echo differs from what was sent");
  assert.deepEqual(proxy.stats(), { connections: 1, open: 1, bytesUp: MiB, bytesDown: MiB, dropped: 0, cut: 0 });
});

test("stall holds bytes both ways and releases them in order on pass", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  const client = new Client(proxy.port, defer);
  const hello = Buffer.from("hello ");
  await client.roundTrip(hello, hello);
  const serverSide = echo.sockets[0]!;

  proxy.setMode({ kind: "stall" });
  const pushed = Buffer.from("pushed-by-server ");
  serverSide.write(pushed);
  const upChunks = [randomBytes(1000), randomBytes(64 * 1024), randomBytes(10)];
  for (const chunk of upChunks) client.socket.write(chunk);
  await sleep(QUIET_MS);
  assert.equal(echo.receivedBytes[0], hello.length, "the server received bytes during the stall");
  assert.equal(client.receivedLength, hello.length, "the client received bytes during the stall");
  assert.equal(proxy.stats().open, 1);

  proxy.setMode({ kind: "pass" });
  const expected = Buffer.concat([hello, pushed, ...upChunks]);
  assert.ok((await client.receive(expected.length)).equals(expected), "held bytes came out of order or changed");
});

test("stall stops reading from a source past ~8 MiB instead of buffering without bound", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  const client = new Client(proxy.port, defer);
  await client.connected;
  await waitFor(() => (echo.sockets.length === 1 ? true : undefined), { timeoutMs: WAIT_TIMEOUT_MS, intervalMs: 5 });

  proxy.setMode({ kind: "stall" });
  // Chunk i is filled with byte i, so order can be checked on the way back.
  const chunkCount = 128;
  for (let i = 0; i < chunkCount; i++) client.socket.write(Buffer.alloc(MiB, i));
  // Wait until the client's own buffer stops shrinking: the proxy has stopped reading.
  let last = -1;
  await waitFor(
    () => {
      const pending = client.socket.writableLength;
      const settled = pending === last;
      last = pending;
      return settled ? true : undefined;
    },
    { timeoutMs: WAIT_TIMEOUT_MS, intervalMs: 200, describe: () => "the client's write buffer to stop shrinking" },
  );
  // Bytes whose writes completed: at most the ~8 MiB the proxy holds plus what
  // the kernel buffers on both sockets (tcp_rmem and tcp_wmem maxima, 36 MiB
  // by default). A proxy that kept reading would have taken all 128 MiB.
  const leftClientBytes = chunkCount * MiB - client.socket.writableLength;
  assert.ok(leftClientBytes < 64 * MiB, `${leftClientBytes / MiB} MiB left the client while the proxy was stalled`);
  assert.equal(echo.receivedBytes[0], 0);

  proxy.setMode({ kind: "pass" });
  await client.receive(chunkCount * MiB);
  const received = client.received();
  for (let i = 0; i < chunkCount; i++) {
    assert.equal(received[i * MiB], i, `chunk ${i} out of order`);
    assert.equal(received[(i + 1) * MiB - 1], i, `chunk ${i} out of order`);
  }
});

test("delay delivers server-to-client bytes no earlier than delayMs, in order, also across a switch to pass", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  const client = new Client(proxy.port, defer);
  const hello = Buffer.from("x");
  await client.roundTrip(hello, hello);
  const delayMs = 400;

  proxy.setMode({ kind: "delay", delayMs });
  const delayed = randomBytes(2000);
  const sentAtMs = performance.now();
  client.socket.write(delayed);
  // Client → server is not delayed: the server gets the bytes while their echo is held.
  await waitFor(() => (echo.receivedBytes[0] === hello.length + delayed.length ? true : undefined), {
    timeoutMs: WAIT_TIMEOUT_MS,
    intervalMs: 5,
    describe: () => "the server to receive the bytes sent in delay mode",
  });
  proxy.setMode({ kind: "pass" });
  const undelayed = randomBytes(2000);
  client.socket.write(undelayed);

  const expected = Buffer.concat([hello, delayed, undelayed]);
  assert.ok((await client.receive(expected.length)).equals(expected), "bytes sent after the delay overtook the delayed ones");
  // A lower bound only: the machine may be slow, never faster than the delay.
  const waitedMs = client.arrivalOf(hello.length) - sentAtMs;
  assert.ok(waitedMs >= delayMs * 0.9, `the delayed echo arrived ${Math.round(waitedMs)} ms after sending, delay ${delayMs} ms`);
  assert.throws(() => proxy.setMode({ kind: "delay", delayMs: -1 }), RangeError);
});

test("refuse closes new connections without data while open ones keep working", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  const open = new Client(proxy.port, defer);
  await open.roundTrip(Buffer.from("one "), Buffer.from("one "));

  proxy.setMode({ kind: "refuse" });
  const refused = new Client(proxy.port, defer);
  refused.socket.write("anyone there?");
  await within(refused.closed, "the refused connection to close");
  assert.equal(refused.receivedLength, 0);
  await open.roundTrip(Buffer.from("two"), Buffer.from("one two"));
  assert.equal(echo.sockets.length, 1, "a refused connection reached the server");

  proxy.setMode({ kind: "pass" });
  const later = new Client(proxy.port, defer);
  await later.roundTrip(Buffer.from("three"), Buffer.from("three"));
  assert.deepEqual(proxy.stats(), { connections: 3, open: 2, bytesUp: 12, bytesDown: 12, dropped: 0, cut: 0 });
});

test("dropAll closes every open connection and the proxy keeps accepting", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  const clients = [new Client(proxy.port, defer), new Client(proxy.port, defer)];
  for (const client of clients) await client.roundTrip(Buffer.from("ping"), Buffer.from("ping"));
  // A stalled connection is dropped too, its held bytes with it.
  proxy.setMode({ kind: "stall" });
  clients[0]!.socket.write("held");
  await sleep(50);

  proxy.dropAll();
  assert.equal(proxy.stats().open, 0);
  await within(Promise.all(clients.map((client) => client.closed)), "the clients to see 'close'");
  await waitFor(() => (echo.sockets.every((socket) => socket.closed) ? true : undefined), {
    timeoutMs: WAIT_TIMEOUT_MS,
    intervalMs: 5,
    describe: () => "the server-side sockets to close",
  });
  assert.equal(echo.receivedBytes[0], 4, "bytes held at the drop were delivered");

  proxy.setMode({ kind: "pass" });
  const after = new Client(proxy.port, defer);
  await after.roundTrip(Buffer.from("again"), Buffer.from("again"));
  assert.deepEqual(proxy.stats(), { connections: 3, open: 1, bytesUp: 13, bytesDown: 13, dropped: 2, cut: 0 });
});

test("cutMidMessage forwards only part of the next chunk, then closes both sides", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  await within(proxy.cutMidMessage(), "cutMidMessage with no connection to resolve");

  const clients = [new Client(proxy.port, defer), new Client(proxy.port, defer)];
  for (const client of clients) await client.roundTrip(Buffer.from("ping"), Buffer.from("ping"));
  const cut = proxy.cutMidMessage();
  const message = randomBytes(1000);
  for (const client of clients) client.socket.write(message);
  await within(cut, "cutMidMessage to resolve");
  await within(Promise.all(clients.map((client) => client.closed)), "the clients to see 'close'");
  await waitFor(() => (echo.sockets.every((socket) => socket.closed) ? true : undefined), {
    timeoutMs: WAIT_TIMEOUT_MS,
    intervalMs: 5,
    describe: () => "the server-side sockets to close",
  });
  for (const [index, client] of clients.entries()) {
    assert.ok(echo.receivedBytes[index]! - 4 < message.length, `server ${index} received all ${message.length} bytes`);
    assert.ok(client.receivedLength - 4 < message.length, `client ${index} received a whole echo`);
  }
  const stats = proxy.stats();
  assert.equal(stats.cut, 2);
  assert.equal(stats.open, 0);
  assert.ok(stats.bytesUp < 2 * (4 + message.length), `bytesUp ${stats.bytesUp}`);
});

test("stop closes the listener and every connection, and is idempotent", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const echo = await startEchoServer(defer);
  const proxy = await startProxy(defer, echo.port);
  const client = new Client(proxy.port, defer);
  await client.roundTrip(Buffer.from("ping"), Buffer.from("ping"));

  await within(proxy.stop(), "stop to resolve");
  await within(client.closed, "the client to see 'close'");
  assert.equal(proxy.stats().open, 0);
  const late = new Client(proxy.port, defer);
  await assert.rejects(late.connected, (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED");
  await within(proxy.stop(), "a second stop to resolve");
});

/** A Health/Check call through `client`, as a promise of the status or the gRPC error. */
function healthCheck(client: grpc.Client, deadlineMs: number): Promise<string> {
  const check = healthService.Check!;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      check.path,
      check.requestSerialize,
      check.responseDeserialize,
      { service: "" },
      { deadline: Date.now() + deadlineMs },
      (error, response) => (error ? reject(error) : resolve(String((response as { status: unknown }).status))),
    ),
  );
}

test("a gRPC health check passes through, times out while stalled, and passes again", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const defer = teardown(t);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-tcp-proxy-"));
  defer(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const aggregator = await startAggregator(stateDir);
  defer(() => aggregator.stop("SIGKILL"));
  const proxy = await startProxy(defer, aggregator.grpcPort);
  const client = new grpc.Client(proxy.address, grpc.credentials.createInsecure());
  defer(() => client.close());

  assert.equal(await healthCheck(client, 10_000), "SERVING");
  proxy.setMode({ kind: "stall" });
  await assert.rejects(healthCheck(client, 500), (error: grpc.ServiceError) => error.code === grpc.status.DEADLINE_EXCEEDED);
  proxy.setMode({ kind: "pass" });
  assert.equal(await healthCheck(client, 10_000), "SERVING");
  assert.equal(proxy.stats().connections, 1, "the stall broke the connection and the client reconnected");
});

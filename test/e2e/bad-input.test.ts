import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protobuf from "protobufjs";
import {
  PROTO_ROOT,
  loadLogtallyGrpc,
  type DeltaBatch,
  type Hello,
  type IngestClient,
  type PairCount__Output,
  type ShipRequest,
  type ShipResponse__Output,
  type SourceStatus__Output,
} from "@logtally/proto";
import { scrape, metricValue, type Sample } from "../support/metrics";
import { startAggregator, type AggregatorProcess } from "../support/processes";
import { QueryProbe, aggregatorCounts, sorted } from "../support/query";
import { waitFor } from "../support/wait";

const STREAM_TIMEOUT_MS = 15_000;
const SHIP_METHOD = "/logtally.v1.Ingest/Ship";

/**
 * How long the suite's aggregator holds a stream that has not said hello:
 * far longer than the suite runs, so that the silent streams below end only
 * when their clients drop them, however long a loaded machine takes to open
 * 2,000 connections (the default, 10 s, could end them first). The timeout
 * itself is checked in limits.test.ts.
 */
const HELLO_TIMEOUT_MS = 30 * 60_000;

/** How long a crowd of 2,000 streams may take to be counted open, or gone, on a loaded machine. */
const CROWD_WAIT_MS = 120_000;

/** What a raw stream carries: bytes put on the wire as they are. */
type WireBytes = Buffer;

/** A message of a refused stream: a typed request, or bytes a typed client could not produce. */
type WireMessage = ShipRequest | WireBytes;

/** One hostile stream: what it sends, and how the aggregator must end it. */
interface RefusalCase {
  readonly name: string;
  readonly messages: readonly WireMessage[];
  readonly expectCode: grpc.status;
  readonly expectDetails: RegExp;
  /**
   * Bytes that are not a ShipRequest at all are refused by grpc-js before the
   * Ingest service sees them, so the service counts no ingest error for them.
   */
  readonly refusedByGrpcJs?: true;
}

/** Everything a client can observe of the aggregator's committed state. */
interface Snapshot {
  readonly series: Array<[string, number]>;
  readonly sources: SourceStatus__Output[];
  readonly counts: PairCount__Output[];
}

const HONEST_HELLO: Hello = { sourceId: "honest", fileId: "10-aaaa", sidecarId: "h", supersedeGeneration: "" };
const HONEST_GENERATION = "10-aaaa#1";
const BASELINE_ANCHOR = "00c0ffee";
const HONEST_FILE_BIRTH = 1_795_749_850_888.7925;

/**
 * A batch the aggregator would apply after the baseline (it starts at the
 * committed offset 100 of the honest generation), with `change` applied: every
 * hostile batch differs from an applicable one only by what makes it invalid.
 */
function nextBatch(change: Partial<DeltaBatch> = {}): ShipRequest {
  return {
    batch: {
      sequence: 9,
      generation: HONEST_GENERATION,
      startOffset: 100,
      endOffset: 200,
      deltas: [{ host: "server3", jobName: "deploy", count: 4 }],
      rows: 4,
      rejected: [],
      anchor: "",
      ...change,
    },
  };
}

// The same .proto the programs load, read by protobufjs directly to put
// hand-made bytes on the wire.
const ingestRoot = protobuf.loadSync(path.join(PROTO_ROOT, "logtally/v1/ingest.proto"));
const ShipRequestType = ingestRoot.lookupType("logtally.v1.ShipRequest");
const ShipResponseType = ingestRoot.lookupType("logtally.v1.ShipResponse");

function encodeShipRequest(request: ShipRequest): WireBytes {
  return Buffer.from(ShipRequestType.encode(ShipRequestType.fromObject(request)).finish());
}

/** Decodes a ShipResponse the way the shared loader options do. */
function decodeShipResponse(bytes: Buffer): ShipResponse__Output {
  return ShipResponseType.toObject(ShipResponseType.decode(bytes), {
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  }) as ShipResponse__Output;
}

/**
 * Encodes `request` with the placeholder "XXXX", which must occur once in it,
 * replaced by bytes that are not UTF-8: what no client library writing a JS
 * string would produce.
 */
function withInvalidUtf8(request: ShipRequest): WireBytes {
  const placeholder = Buffer.from("XXXX");
  const encoded = encodeShipRequest(request);
  const at = encoded.indexOf(placeholder);
  assert.ok(at >= 0 && encoded.indexOf(placeholder, at + 1) === -1, "the placeholder host must occur exactly once");
  encoded.set([0xff, 0xfe, 0xfd, 0xfc], at);
  return encoded;
}

/** One Ingest stream from the client side: the responses in order, and how it ended. */
class ShipStream<Request> {
  readonly status: Promise<grpc.StatusObject>;
  private readonly responses: ShipResponse__Output[] = [];
  private readonly waiters: Array<() => void> = [];
  private read = 0;

  constructor(private readonly call: grpc.ClientDuplexStream<Request, ShipResponse__Output>) {
    call.on("data", (response: ShipResponse__Output) => {
      this.responses.push(response);
      for (const wake of this.waiters.splice(0)) wake();
    });
    // A non-OK status also arrives as an "error"; the status event carries it.
    call.on("error", () => undefined);
    this.status = new Promise((resolve) => call.on("status", resolve));
  }

  write(message: Request): void {
    this.call.write(message);
  }

  /** The next response; rejects with the status if the stream ends first. */
  async next(): Promise<ShipResponse__Output> {
    for (;;) {
      const response = this.responses[this.read];
      if (response) {
        this.read++;
        return response;
      }
      const ended = await Promise.race([new Promise<undefined>((resolve) => this.waiters.push(() => resolve(undefined))), this.status]);
      if (ended && this.read >= this.responses.length) {
        throw new Error(`stream ended with ${grpc.status[ended.code]} "${ended.details}" instead of answering`);
      }
    }
  }

  /** Sends `request` and returns the one response it must get. */
  async send(request: Request): Promise<ShipResponse__Output> {
    this.write(request);
    return this.next();
  }

  /** Half-closes the stream and returns its status. */
  close(): Promise<grpc.StatusObject> {
    this.call.end();
    return this.status;
  }

  cancel(): void {
    this.call.cancel();
  }
}

function openTypedStream(client: IngestClient, timeoutMs = STREAM_TIMEOUT_MS): ShipStream<ShipRequest> {
  return new ShipStream(client.Ship({ deadline: Date.now() + timeoutMs }));
}

function openRawStream(client: IngestClient): ShipStream<WireBytes> {
  const call = (client as unknown as grpc.Client).makeBidiStreamRequest<WireBytes, ShipResponse__Output>(SHIP_METHOD, (bytes) => bytes, decodeShipResponse, {
    deadline: Date.now() + STREAM_TIMEOUT_MS,
  });
  return new ShipStream(call);
}

/**
 * Sends a case's messages on a fresh stream, half-closes it and returns how
 * it ended. A case with any raw bytes goes entirely over the raw stream.
 */
async function runOnOwnStream(client: IngestClient, messages: readonly WireMessage[]): Promise<grpc.StatusObject> {
  if (messages.some((message) => Buffer.isBuffer(message))) {
    const stream = openRawStream(client);
    for (const message of messages) stream.write(Buffer.isBuffer(message) ? message : encodeShipRequest(message));
    return stream.close();
  }
  const stream = openTypedStream(client);
  for (const message of messages) stream.write(message as ShipRequest);
  return stream.close();
}

const REFUSALS: readonly RefusalCase[] = [
  {
    name: "a batch before any hello",
    messages: [nextBatch()],
    expectCode: grpc.status.FAILED_PRECONDITION,
    expectDetails: /hello before any batch/,
  },
  {
    name: "a request carrying neither hello nor batch",
    messages: [{}],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /neither hello nor batch/,
  },
  {
    name: "a heartbeat before any hello",
    messages: [{ heartbeat: { generation: HONEST_GENERATION, fileSize: 100 } }],
    expectCode: grpc.status.FAILED_PRECONDITION,
    expectDetails: /hello before any heartbeat/,
  },
  {
    name: "a heartbeat whose generation has no epoch",
    messages: [{ hello: HONEST_HELLO }, { heartbeat: { generation: "10-aaaa", fileSize: 100 } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /heartbeat: generation "10-aaaa" is malformed/,
  },
  {
    name: "a heartbeat with a negative file_size",
    messages: [{ hello: HONEST_HELLO }, { heartbeat: { generation: HONEST_GENERATION, fileSize: -1 } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /heartbeat: file_size -1 is not a file size/,
  },
  {
    name: "a batch with a file_size beyond 2^50",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ fileSize: 2 ** 50 + 1 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /file_size \d+ is not a file size/,
  },
  {
    name: "a hello with an empty source_id",
    messages: [{ hello: { ...HONEST_HELLO, sourceId: "" } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /source_id is required/,
  },
  {
    name: "a hello with a C0 control character in source_id",
    messages: [{ hello: { ...HONEST_HELLO, sourceId: "hon\u0007est" } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /source_id contains control characters/,
  },
  {
    name: "a hello with a C1 control character (NEL) in source_id",
    messages: [{ hello: { ...HONEST_HELLO, sourceId: "hon\u0085est" } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /source_id contains control characters/,
  },
  {
    name: "a hello with U+FFFD in source_id",
    messages: [{ hello: { ...HONEST_HELLO, sourceId: "hon\ufffdest" } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /source_id contains control characters or invalid UTF-8/,
  },
  {
    name: "a hello with '#' in file_id",
    messages: [{ hello: { ...HONEST_HELLO, fileId: "10-aaaa#1" } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /file_id must not contain '#'/,
  },
  {
    name: "a hello with a source_id over 512 characters",
    messages: [{ hello: { ...HONEST_HELLO, sourceId: "s".repeat(513) } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /source_id is longer than 512 characters/,
  },
  {
    name: "a hello with a control character in sidecar_id",
    messages: [{ hello: { ...HONEST_HELLO, sidecarId: "h\n" } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /sidecar_id contains control characters/,
  },
  {
    name: "a second hello on the stream naming another source",
    messages: [{ hello: HONEST_HELLO }, { hello: { ...HONEST_HELLO, sourceId: "mallory" } }],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /stream belongs to source honest; open another stream for mallory/,
  },
  {
    name: "a batch for a generation of a file never counted (99-zzzz#5)",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "99-zzzz#5", startOffset: 0 })],
    expectCode: grpc.status.FAILED_PRECONDITION,
    expectDetails: /unknown generation 99-zzzz#5 of source honest/,
  },
  {
    name: "a batch for a future epoch of a counted file (10-aaaa#7)",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "10-aaaa#7", startOffset: 0 })],
    expectCode: grpc.status.FAILED_PRECONDITION,
    expectDetails: /unknown generation 10-aaaa#7 of source honest/,
  },
  {
    name: "a batch for the largest epoch there can be of a counted file (10-aaaa#999999999)",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "10-aaaa#999999999", startOffset: 0 })],
    expectCode: grpc.status.FAILED_PRECONDITION,
    expectDetails: /unknown generation 10-aaaa#999999999 of source honest/,
  },
  {
    name: "a batch whose epoch has ten digits",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "10-aaaa#1000000000" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /generation "10-aaaa#1000000000" is malformed/,
  },
  {
    name: "a batch whose epoch has a leading zero",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "10-aaaa#01" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /generation "10-aaaa#01" is malformed/,
  },
  {
    name: "a batch whose generation has two epochs",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "10-aaaa#1#1" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /generation "10-aaaa#1#1" is malformed/,
  },
  {
    name: "a batch whose generation has no epoch",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "nohash" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /generation "nohash" is malformed/,
  },
  {
    name: "a batch whose generation has epoch 0",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "10-aaaa#0" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /generation "10-aaaa#0" is malformed/,
  },
  {
    name: "a batch whose generation's file id has a control character",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ generation: "10-a\u0001aa#1" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /generation .* is malformed/,
  },
  {
    name: "a negative start_offset",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ startOffset: -100 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /start_offset -100 is not a valid offset/,
  },
  {
    name: "an end_offset equal to start_offset",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ endOffset: 100, deltas: [], rows: 0 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /end_offset 100 must be greater than start_offset 100/,
  },
  {
    name: "an end_offset below start_offset",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ endOffset: 50 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /end_offset 50 must be greater than start_offset 100/,
  },
  {
    name: "an end_offset beyond 2^50",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ endOffset: 2 ** 50 + 1 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /is beyond the largest file offset/,
  },
  {
    name: "an end_offset beyond what a JS number holds exactly (2^60)",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ endOffset: 2 ** 60 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /end_offset \d+ is not a valid offset/,
  },
  {
    name: "a start_offset beyond what a JS number holds exactly (2^60)",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ startOffset: 2 ** 60, endOffset: 2 ** 60 + 1024 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /start_offset \d+ is not a valid offset/,
  },
  {
    name: "an end_offset of int64's largest value",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ endOffset: "9223372036854775807" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /end_offset \d+ is not a valid offset/,
  },
  {
    name: "a start_offset of int64's smallest value",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ startOffset: "-9223372036854775808" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /start_offset -\d+ is not a valid offset/,
  },
  {
    name: "a delta count beyond what a JS number holds exactly (2^62)",
    messages: [
      { hello: HONEST_HELLO },
      nextBatch({ deltas: [{ host: "server3", jobName: "deploy", count: "4611686018427387904" }], rows: "4611686018427387904" }),
    ],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta count \d+ must be positive/,
  },
  {
    name: "a rejected count beyond what a JS number holds exactly (2^62)",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ rejected: [{ reason: "too_few_fields", count: "4611686018427387904" }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /rejected count \d+ must be positive/,
  },
  {
    name: "rows different from the sum of delta counts",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ rows: 5 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /rows 5 does not equal the sum of delta counts 4/,
  },
  {
    name: "a delta with count 0",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ deltas: [{ host: "server3", jobName: "deploy", count: 0 }], rows: 0 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta count 0 must be positive/,
  },
  {
    name: "a delta with a negative count",
    messages: [
      { hello: HONEST_HELLO },
      nextBatch({
        deltas: [
          { host: "server3", jobName: "deploy", count: 6 },
          { host: "server1", jobName: "backup", count: -2 },
        ],
        rows: 4,
      }),
    ],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta count -2 must be positive/,
  },
  {
    name: "more rows than bytes in the range",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ endOffset: 103 })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /4 rows cannot fit in 3 bytes/,
  },
  {
    name: "counted plus rejected rows exceeding the bytes in the range",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ endOffset: 104, rejected: [{ reason: "too_few_fields", count: 1 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /5 rows cannot fit in 4 bytes/,
  },
  {
    name: "a rejected entry with count 0",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ rejected: [{ reason: "too_few_fields", count: 0 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /rejected count 0 must be positive/,
  },
  {
    name: "a rejected entry with an empty reason",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ rejected: [{ reason: "", count: 1 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /rejected reason must be 1 to 64 characters/,
  },
  {
    name: "an empty host label",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ deltas: [{ host: "", jobName: "deploy", count: 4 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta label rejected: empty_field/,
  },
  {
    name: "an empty job_name label",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ deltas: [{ host: "server3", jobName: "", count: 4 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta label rejected: empty_field/,
  },
  {
    name: "a label with a control character",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ deltas: [{ host: "server3", jobName: "de\tploy", count: 4 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta label rejected: invalid_label/,
  },
  {
    name: "a label with U+FFFD",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ deltas: [{ host: "server\ufffd3", jobName: "deploy", count: 4 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta label rejected: invalid_label/,
  },
  {
    name: "a label that is not UTF-8 on the wire",
    messages: [encodeShipRequest({ hello: HONEST_HELLO }), withInvalidUtf8(nextBatch({ deltas: [{ host: "XXXX", jobName: "deploy", count: 4 }] }))],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta label rejected: invalid_label/,
  },
  {
    name: "a label over 1024 UTF-8 bytes (513 two-byte characters)",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ deltas: [{ host: "é".repeat(513), jobName: "deploy", count: 4 }] })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /delta label rejected: field_too_long/,
  },
  {
    name: "the same pair twice in one batch",
    messages: [
      { hello: HONEST_HELLO },
      nextBatch({
        deltas: [
          { host: "server3", jobName: "deploy", count: 2 },
          { host: "server3", jobName: "deploy", count: 2 },
        ],
      }),
    ],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /pair appears twice in one batch/,
  },
  {
    name: "an anchor that is not lowercase hex",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ anchor: "C0FFEE" })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /anchor must be at most 64 lowercase hex digits/,
  },
  {
    name: "an anchor longer than 64 hex digits",
    messages: [{ hello: HONEST_HELLO }, nextBatch({ anchor: "a".repeat(65) })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /anchor must be at most 64 lowercase hex digits/,
  },
  {
    name: "more than 20000 deltas",
    messages: [
      { hello: HONEST_HELLO },
      nextBatch({
        endOffset: 1_000_000,
        deltas: Array.from({ length: 20_001 }, (_, i) => ({ host: `host-${i}`, jobName: "deploy", count: 1 })),
        rows: 20_001,
      }),
    ],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /20001 deltas exceed the limit of 20000/,
  },
  {
    name: "bytes that are not a protobuf message",
    messages: [Buffer.from([0xff, 0xff, 0xff, 0xff])],
    expectCode: grpc.status.INTERNAL,
    expectDetails: /Error deserializing request/,
    refusedByGrpcJs: true,
  },
  {
    name: "a valid hello followed by bytes that are not a protobuf message",
    messages: [encodeShipRequest({ hello: HONEST_HELLO }), Buffer.from([0x12, 0x7f, 0x01])],
    expectCode: grpc.status.INTERNAL,
    expectDetails: /Error deserializing request/,
    refusedByGrpcJs: true,
  },
  {
    name: "a hello sent with the wrong wire type (as a varint)",
    messages: [Buffer.from([0x08, 0x01])],
    expectCode: grpc.status.INTERNAL,
    expectDetails: /Error deserializing request/,
    refusedByGrpcJs: true,
  },
  {
    name: "a hello whose length prefix claims 2 GiB in a 6-byte message",
    messages: [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07])],
    expectCode: grpc.status.INTERNAL,
    expectDetails: /Error deserializing request/,
    refusedByGrpcJs: true,
  },
  {
    name: "a batch holding a varint of eleven bytes",
    messages: [encodeShipRequest({ hello: HONEST_HELLO }), Buffer.from([0x12, 0x0c, 0x08, ...Array<number>(10).fill(0xff), 0x01])],
    expectCode: grpc.status.INTERNAL,
    expectDetails: /Error deserializing request/,
    refusedByGrpcJs: true,
  },
  {
    name: "an empty message (zero bytes: a ShipRequest with nothing set)",
    messages: [Buffer.alloc(0)],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /neither hello nor batch/,
  },
  {
    name: "a message holding only a field the protocol does not define",
    messages: [Buffer.from([0x78, 0x01])],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /neither hello nor batch/,
  },
  {
    name: "a hello whose source_id is not UTF-8 on the wire",
    messages: [withInvalidUtf8({ hello: { ...HONEST_HELLO, sourceId: "XXXX" } })],
    expectCode: grpc.status.INVALID_ARGUMENT,
    expectDetails: /source_id contains control characters or invalid UTF-8/,
  },
];

/**
 * Requirement: bad input from the network ends its stream with a clear gRPC
 * status and changes nothing, while honest sidecars keep being served.
 * The tests run in order: each builds on the state the previous one checked.
 */
describe("bad input from the network", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-bad-input-"));
  let aggregator: AggregatorProcess | undefined;
  let client: IngestClient | undefined;
  let probe: QueryProbe | undefined;
  let honest: ShipStream<ShipRequest> | undefined;
  let baseline: Snapshot;
  let baselineErrors: Map<string, number>;
  let baselineConnected: number | undefined;
  /** How each refused stream actually ended, by case name. */
  const observed = new Map<string, grpc.status>();

  const running = (): { aggregator: AggregatorProcess; client: IngestClient; probe: QueryProbe; honest: ShipStream<ShipRequest> } => {
    assert.ok(aggregator && client && probe && honest, "the aggregator and the honest stream did not start");
    return { aggregator, client, probe, honest };
  };

  const snapshot = async (): Promise<Snapshot> => {
    const { aggregator, probe } = running();
    return {
      series: sorted(await aggregatorCounts(aggregator.metricsUrl)),
      sources: await probe.listSources(),
      counts: await probe.getCounts(),
    };
  };

  before(async () => {
    aggregator = await startAggregator(path.join(dir, "state"), { extraArgs: ["--hello-timeout-ms", String(HELLO_TIMEOUT_MS)] });
    const { Ingest } = loadLogtallyGrpc().logtally.v1;
    client = new Ingest(aggregator.grpcAddress, grpc.credentials.createInsecure());
    probe = new QueryProbe(aggregator.grpcAddress);
    // The honest stream stays open for the whole suite.
    honest = openTypedStream(client, 10 * 60_000);

    const welcome = (await honest.send({ hello: HONEST_HELLO })).welcome;
    assert.deepEqual(welcome, {
      sourceId: "honest",
      fileId: "10-aaaa",
      generation: HONEST_GENERATION,
      committedOffset: 0,
      anchor: "",
      known: false,
      sourceCreatedUnixMillis: 0,
      sourceLatestFileId: "",
      fileBirthUnixMillis: 0,
      sourceLatestFileBirthUnixMillis: 0,
      sourceLatestFilePath: "",
      heartbeatIntervalMillis: 10_000,
      countingSpecs: true,
    });
    const ack = (
      await honest.send({
        batch: {
          sequence: 1,
          generation: HONEST_GENERATION,
          startOffset: 0,
          endOffset: 100,
          deltas: [
            { host: "server1", jobName: "backup", count: 2 },
            { host: "server2", jobName: "cron", count: 1 },
          ],
          rows: 3,
          rejected: [],
          anchor: BASELINE_ANCHOR,
          fileBirthUnixMillis: HONEST_FILE_BIRTH,
        },
      })
    ).ack;
    assert.deepEqual(ack, { sequence: 1, generation: HONEST_GENERATION, outcome: "APPLIED", committedOffset: 100 });

    baseline = await snapshot();
    assert.deepEqual(baseline.series, [
      ["server1|backup", 2],
      ["server2|cron", 1],
    ]);
    const samples = await scrape(aggregator.metricsUrl);
    baselineErrors = ingestErrorsByCode(samples);
    baselineConnected = metricValue(samples, "logtally_connected_sidecars");
    assert.equal(baselineConnected, 1, "only the honest stream is open");
  });

  after(async () => {
    honest?.cancel();
    client?.close();
    probe?.close();
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("each malformed stream is refused with a status naming the problem", () => {
    for (const refusal of REFUSALS) {
      it(refusal.name, async () => {
        const { aggregator, client } = running();
        const status = await runOnOwnStream(client, refusal.messages);
        observed.set(refusal.name, status.code);
        assert.equal(
          grpc.status[status.code],
          grpc.status[refusal.expectCode],
          `stream ended with ${grpc.status[status.code]} "${status.details}"\n${aggregator.dump()}`,
        );
        assert.match(status.details, refusal.expectDetails);
      });
    }
  });

  it("changed nothing through the refused streams, and counted each as an ingest error", async () => {
    const { aggregator } = running();
    // grpc-js tells the service a stream it refused itself is gone once the
    // HTTP/2 stream closes, which may be just after the client saw the status.
    let connected: number | undefined;
    await waitFor(
      async () => {
        connected = metricValue(await scrape(aggregator.metricsUrl), "logtally_connected_sidecars");
        return connected === baselineConnected ? true : undefined;
      },
      { timeoutMs: 5_000, describe: () => `logtally_connected_sidecars back to ${baselineConnected} (only the honest stream; last: ${connected})` },
    );
    assert.deepEqual(await snapshot(), baseline);

    const samples = await scrape(aggregator.metricsUrl);
    // Every stream the Ingest service ended with an error is counted under
    // its code (whether each had the right code is checked case by case).
    const expectedErrors = new Map(baselineErrors);
    for (const refusal of REFUSALS) {
      const code = observed.get(refusal.name);
      if (refusal.refusedByGrpcJs || code === undefined || code === grpc.status.OK) continue;
      expectedErrors.set(grpc.status[code], (expectedErrors.get(grpc.status[code]) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(ingestErrorsByCode(samples)), Object.fromEntries(expectedErrors));
    assert.equal(aggregator.child.exitCode, null, "the aggregator exited");
  });

  it("answers overlapping, gapped, gigantic and repeated ranges on a second honest stream without changing anything", async () => {
    const { client } = running();
    const second = openTypedStream(client);
    try {
      const welcome = (await second.send({ hello: HONEST_HELLO })).welcome;
      assert.ok(welcome && Number(welcome.sourceCreatedUnixMillis) > 0, "a known source says when it began");
      assert.deepEqual(welcome, {
        sourceId: "honest",
        fileId: "10-aaaa",
        generation: HONEST_GENERATION,
        committedOffset: 100,
        anchor: BASELINE_ANCHOR,
        known: true,
        sourceCreatedUnixMillis: welcome.sourceCreatedUnixMillis,
        sourceLatestFileId: "10-aaaa",
        // The creation time the first batch reported, so a sidecar can tell
        // this file from a new one that reuses its inode.
        fileBirthUnixMillis: HONEST_FILE_BIRTH,
        sourceLatestFileBirthUnixMillis: HONEST_FILE_BIRTH,
        sourceLatestFilePath: "",
        heartbeatIntervalMillis: 10_000,
        countingSpecs: true,
      });
      const refused: Array<{ batch: DeltaBatch; outcome: string; generation?: string; committedOffset?: number }> = [
        {
          batch: { startOffset: 50, endOffset: 150, deltas: [{ host: "server1", jobName: "backup", count: 5 }], rows: 5 },
          outcome: "OUT_OF_ORDER",
        },
        {
          // Over the whole committed range and past it.
          batch: { startOffset: 0, endOffset: 200, deltas: [{ host: "server1", jobName: "backup", count: 5 }], rows: 5 },
          outcome: "OUT_OF_ORDER",
        },
        {
          // Inside the committed range, ending at its end.
          batch: { startOffset: 50, endOffset: 100, deltas: [{ host: "server1", jobName: "backup", count: 5 }], rows: 5 },
          outcome: "DUPLICATE",
        },
        {
          batch: { startOffset: 150, endOffset: 250, deltas: [{ host: "server1", jobName: "backup", count: 5 }], rows: 5 },
          outcome: "OUT_OF_ORDER",
        },
        {
          // A gap of a petabyte: the largest range there can be, not starting at the committed offset.
          batch: { startOffset: 2 ** 50 - 1, endOffset: 2 ** 50, deltas: [{ host: "server1", jobName: "backup", count: 1 }], rows: 1 },
          outcome: "OUT_OF_ORDER",
        },
        {
          // The first epoch of a file never announced: known to nobody, so its committed offset is 0 and [100, 200) does not start there.
          batch: { startOffset: 100, endOffset: 200, deltas: [{ host: "server1", jobName: "backup", count: 5 }], rows: 5 },
          generation: "11-bbbb#1",
          outcome: "OUT_OF_ORDER",
          committedOffset: 0,
        },
        {
          batch: {
            startOffset: 0,
            endOffset: 100,
            deltas: [
              { host: "server1", jobName: "backup", count: 2 },
              { host: "server2", jobName: "cron", count: 1 },
            ],
            rows: 3,
          },
          outcome: "DUPLICATE",
        },
      ];
      let sequence = 100;
      for (const { batch, outcome, generation = HONEST_GENERATION, committedOffset = 100 } of refused) {
        sequence++;
        const ack = (await second.send({ batch: { ...batch, sequence, generation, rejected: [], anchor: "" } })).ack;
        assert.deepEqual(
          ack,
          { sequence, generation, outcome, committedOffset },
          `batch [${String(batch.startOffset)}, ${String(batch.endOffset)}) of ${generation}`,
        );
      }
      // The sequence is the sender's own: the largest uint64 comes back as it was sent (as the nearest number).
      const largestSequence = (
        await second.send({
          batch: {
            ...nextBatch().batch,
            sequence: "18446744073709551615",
            startOffset: 0,
            endOffset: 100,
            deltas: [{ host: "server1", jobName: "backup", count: 2 }],
            rows: 2,
          },
        })
      ).ack;
      assert.deepEqual(largestSequence, { sequence: 2 ** 64, generation: HONEST_GENERATION, outcome: "DUPLICATE", committedOffset: 100 });
      // Acknowledging a refusal records when the source was last heard from;
      // that and the stream count are all that may differ.
      assert.deepEqual(committedPart(await snapshot()), committedPart(baseline));
      assert.equal((await second.close()).code, grpc.status.OK);
    } finally {
      second.cancel();
    }
  });

  it("keeps serving the honest sidecar: its stream ships [100, 200) and it is applied", async () => {
    const { aggregator, probe, honest } = running();
    const ack = (
      await honest.send({
        batch: {
          sequence: 2,
          generation: HONEST_GENERATION,
          startOffset: 100,
          endOffset: 200,
          deltas: [
            { host: "server1", jobName: "backup", count: 1 },
            { host: "server3", jobName: "deploy", count: 2 },
          ],
          rows: 3,
          rejected: [],
          anchor: "",
        },
      })
    ).ack;
    assert.deepEqual(ack, { sequence: 2, generation: HONEST_GENERATION, outcome: "APPLIED", committedOffset: 200 });
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), [
      ["server1|backup", 3],
      ["server2|cron", 1],
      ["server3|deploy", 2],
    ]);
    const [source, ...others] = await probe.listSources();
    assert.equal(others.length, 0);
    assert.equal(source?.committedOffset, 200);
    assert.equal(source?.generation, HONEST_GENERATION);
  });

  /** Waits until the aggregator reports `expected` open ingest streams. */
  const waitForOpenStreams = async (expected: number, timeoutMs = 30_000): Promise<void> => {
    const { aggregator } = running();
    let open: number | undefined;
    await waitFor(
      async () => {
        open = metricValue(await scrape(aggregator.metricsUrl), "logtally_connected_sidecars");
        return open === expected ? true : undefined;
      },
      { timeoutMs, describe: () => `logtally_connected_sidecars to be ${expected} (last: ${open})` },
    );
  };

  it("answers a message carrying both a hello and a batch as its hello alone, and applies no batch", async () => {
    const { client } = running();
    const before = await snapshot();
    // [200, 300) would be applied on its own.
    const applicable = nextBatch({ sequence: 30, startOffset: 200, endOffset: 300 });
    const stream = openRawStream(client);
    try {
      // Either order on the wire: both members of the oneof are decoded, and the hello is what is answered.
      for (const both of [
        [{ hello: HONEST_HELLO }, applicable],
        [applicable, { hello: HONEST_HELLO }],
      ]) {
        stream.write(Buffer.concat(both.map(encodeShipRequest)));
        const response = await stream.next();
        assert.equal(response.welcome?.committedOffset, 200, JSON.stringify(response));
        assert.equal(response.ack ?? undefined, undefined, JSON.stringify(response));
      }
      stream.write(encodeShipRequest({}));
      await assert.rejects(
        stream.next(),
        /stream ended with INVALID_ARGUMENT "ShipRequest carries neither hello nor batch nor heartbeat"/,
        "no acknowledgement came before",
      );
    } finally {
      stream.cancel();
    }
    assert.deepEqual(committedPart(await snapshot()), committedPart(before));
  });

  it("holds streams that never send until their clients go away, and serves honest sidecars meanwhile", async () => {
    const { client } = running();
    assert.ok(baselineConnected !== undefined);
    const before = await snapshot();
    const silent = Array.from({ length: 50 }, () => openTypedStream(client, 10 * 60_000));
    const ended: grpc.StatusObject[] = [];
    for (const stream of silent) void stream.status.then((status) => ended.push(status));
    try {
      // Until the hello timeout (HELLO_TIMEOUT_MS here) the aggregator keeps them as open ingest streams.
      await waitForOpenStreams(baselineConnected + silent.length);
      const late = openTypedStream(client);
      try {
        assert.equal((await late.send({ hello: HONEST_HELLO })).welcome?.committedOffset, 200);
        const ack = (await late.send(nextBatch({ sequence: 40, startOffset: 100, endOffset: 200 }))).ack;
        assert.deepEqual(ack, { sequence: 40, generation: HONEST_GENERATION, outcome: "DUPLICATE", committedOffset: 200 });
        assert.equal((await late.close()).code, grpc.status.OK);
      } finally {
        late.cancel();
      }
      assert.deepEqual(ended, [], "the aggregator ended a stream that had sent nothing");
      // One that half-closes without a word ends cleanly; one whose client deadline passes ends with it.
      assert.equal((await openTypedStream(client).close()).code, grpc.status.OK);
      assert.equal((await openTypedStream(client, 500).status).code, grpc.status.DEADLINE_EXCEEDED);
    } finally {
      for (const stream of silent) stream.cancel();
    }
    const statuses = await Promise.all(silent.map((stream) => stream.status));
    assert.deepEqual(new Set(statuses.map((status) => grpc.status[status.code])), new Set(["CANCELLED"]));
    // Every dropped stream is forgotten.
    await waitForOpenStreams(baselineConnected);
    assert.deepEqual(committedPart(await snapshot()), committedPart(before));
  });

  it("serves the honest sidecar while 2,000 streams on 2,000 connections open at once, and forgets them all once dropped", async () => {
    const { aggregator, probe, honest } = running();
    assert.ok(baselineConnected !== undefined);
    const before = await snapshot();
    const errorsBefore = ingestErrorsByCode(await scrape(aggregator.metricsUrl));
    const { Ingest } = loadLogtallyGrpc().logtally.v1;
    // A local subchannel pool gives each client a connection of its own.
    const clients = Array.from(
      { length: 2_000 },
      () => new Ingest(aggregator.grpcAddress, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
    );
    const streams = clients.map((crowdClient) => openTypedStream(crowdClient, 5 * 60_000));
    // A third say nothing, a third say hello as the honest source, a third send a request with nothing in it.
    const silent = streams.filter((_, index) => index % 3 === 0);
    const greeting = streams.filter((_, index) => index % 3 === 1);
    const empty = streams.filter((_, index) => index % 3 === 2);
    try {
      for (const stream of empty) stream.write({});
      const welcomes = await Promise.all(greeting.map((stream) => stream.send({ hello: HONEST_HELLO })));
      assert.ok(
        welcomes.every(({ welcome }) => welcome?.generation === HONEST_GENERATION && welcome.committedOffset === 200),
        "every hello is welcomed to the honest generation at its committed offset",
      );
      for (const status of await Promise.all(empty.map((stream) => stream.status))) {
        assert.deepEqual([grpc.status[status.code], status.details], ["INVALID_ARGUMENT", "ShipRequest carries neither hello nor batch nor heartbeat"]);
      }
      await waitForOpenStreams(baselineConnected + silent.length + greeting.length, CROWD_WAIT_MS);
      // Meanwhile the honest sidecar ships its next batch, and it is applied.
      const ack = (
        await honest.send({
          batch: {
            sequence: 3,
            generation: HONEST_GENERATION,
            startOffset: 200,
            endOffset: 300,
            deltas: [{ host: "server1", jobName: "backup", count: 2 }],
            rows: 2,
            rejected: [],
            anchor: "",
          },
        })
      ).ack;
      assert.deepEqual(ack, { sequence: 3, generation: HONEST_GENERATION, outcome: "APPLIED", committedOffset: 300 });
      const [source] = await probe.listSources();
      assert.equal(source?.connectedSidecars, 1 + greeting.length);
    } finally {
      for (const stream of streams) stream.cancel();
    }
    const dropped = await Promise.all([...silent, ...greeting].map((stream) => stream.status));
    assert.deepEqual(new Set(dropped.map((status) => grpc.status[status.code])), new Set(["CANCELLED"]));
    for (const crowdClient of clients) crowdClient.close();

    // Gone because they were dropped: the hello timeout is far away.
    await waitForOpenStreams(baselineConnected, CROWD_WAIT_MS);
    const [source, ...others] = await probe.listSources();
    assert.equal(others.length, 0);
    assert.equal(source?.connectedSidecars, 1, "only the honest stream is left");
    assert.equal(source?.committedOffset, 300);
    const expectedSeries = new Map(before.series);
    expectedSeries.set("server1|backup", (expectedSeries.get("server1|backup") ?? 0) + 2);
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(expectedSeries));
    const expectedErrors = new Map(errorsBefore);
    expectedErrors.set("INVALID_ARGUMENT", (expectedErrors.get("INVALID_ARGUMENT") ?? 0) + empty.length);
    assert.deepEqual(Object.fromEntries(ingestErrorsByCode(await scrape(aggregator.metricsUrl))), Object.fromEntries(expectedErrors));
    assert.equal(aggregator.child.exitCode, null, "the aggregator exited");
  });

  it("applies a gigantic range that starts at the committed offset, as it would a petabyte line, and refuses an end past 2^50", async () => {
    const { aggregator, client } = running();
    const before = await snapshot();
    const rejectedBefore = metricValue(await scrape(aggregator.metricsUrl), "logtally_rows_rejected_total", { reason: "line_too_long" }) ?? 0;
    const stream = openTypedStream(client);
    try {
      const welcome = (await stream.send({ hello: { sourceId: "vast", fileId: "20-vvvv", sidecarId: "v", supersedeGeneration: "" } })).welcome;
      assert.equal(welcome?.generation, "20-vvvv#1");
      // One rejected line over the largest range there can be.
      const ack = (
        await stream.send({
          batch: {
            sequence: 1,
            generation: "20-vvvv#1",
            startOffset: 0,
            endOffset: 2 ** 50,
            deltas: [],
            rows: 0,
            rejected: [{ reason: "line_too_long", count: 1 }],
            anchor: "",
          },
        })
      ).ack;
      assert.deepEqual(ack, { sequence: 1, generation: "20-vvvv#1", outcome: "APPLIED", committedOffset: 2 ** 50 });
      stream.write({
        batch: {
          ...nextBatch().batch,
          sequence: 2,
          generation: "20-vvvv#1",
          startOffset: 2 ** 50,
          endOffset: 2 ** 50 + 1,
          deltas: [{ host: "vast", jobName: "job", count: 1 }],
          rows: 1,
        },
      });
      const status = await stream.status;
      assert.equal(grpc.status[status.code], "INVALID_ARGUMENT");
      assert.match(status.details, /end_offset 1125899906842625 is beyond the largest file offset 1125899906842624/);
    } finally {
      stream.cancel();
    }
    const after = await snapshot();
    assert.deepEqual(after.series, before.series, "no row counted");
    assert.deepEqual(
      after.sources.map(({ sourceId, committedOffset }) => [sourceId, committedOffset]),
      [...before.sources.map(({ sourceId, committedOffset }) => [sourceId, committedOffset]), ["vast", 2 ** 50]],
    );
    assert.equal(metricValue(await scrape(aggregator.metricsUrl), "logtally_rows_rejected_total", { reason: "line_too_long" }), rejectedBefore + 1);
  });
});

/** `logtally_ingest_errors_total` by its `code` label. */
function ingestErrorsByCode(samples: readonly Sample[]): Map<string, number> {
  const byCode = new Map<string, number>();
  for (const sample of samples) {
    if (sample.name === "logtally_ingest_errors_total") byCode.set(sample.labels.code ?? "", sample.value);
  }
  return byCode;
}

/**
 * A snapshot without the fields a refused-but-acknowledged batch legitimately
 * updates: when the source was heard from, and which streams are open.
 */
function committedPart(snapshot: Snapshot): Snapshot {
  return {
    ...snapshot,
    sources: snapshot.sources.map(
      ({ lastSeenUnixMillis: _seen, lastHeartbeatUnixMillis: _heartbeat, connectedSidecars: _connected, connectedSidecarIds: _ids, ...committed }) =>
        committed as SourceStatus__Output,
    ),
  };
}

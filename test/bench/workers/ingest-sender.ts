import { IngestStream } from "../../support/ingest-client";
import { runWorker } from "../worker-process";

/** What the sender process is told when forked. */
export interface IngestSenderInit {
  readonly address: string;
  /** Concurrent senders, each its own Ingest stream, source and file. */
  readonly senders: number;
  /** Distinguishes this process's sources from earlier ones on the same aggregator. */
  readonly sourcePrefix: string;
  readonly rowsPerBatch: number;
  readonly pairsPerBatch: number;
  /** Sending before the measured window (connections warm, SQLite pages cached). */
  readonly warmupMs: number;
  readonly windowMs: number;
}

/** What it reports: the measured window's start, then its end with the batches acknowledged inside it. */
export type IngestSenderMessage =
  | { readonly type: "window-start" }
  | { readonly type: "window-end"; readonly batches: number; readonly rows: number; readonly seconds: number };

/** Beyond the measured window, how long a stream may still take to end. */
const STREAM_SLACK_MS = 60_000;

/** Bytes of file each fake batch claims to cover (offsets must advance; their size does not matter to the aggregator). */
const BYTES_PER_BATCH = 20_000;

/**
 * Ships batches as a sidecar does over real gRPC (the tests' IngestStream):
 * Hello, Welcome, then one DeltaBatch after another, each sent when the
 * previous one is acknowledged (a sidecar's backpressure). Every
 * acknowledgement must say APPLIED.
 */
async function runSender(init: IngestSenderInit, index: number, counting: { on: boolean; batches: number }, stopAt: number): Promise<void> {
  const deltas = Array.from({ length: init.pairsPerBatch }, (_, pair) => ({
    host: `sender-host-${pair % 10}`,
    jobName: `sender-job-${Math.floor(pair / 10)}`,
    count: Math.floor(init.rowsPerBatch / init.pairsPerBatch) + (pair < init.rowsPerBatch % init.pairsPerBatch ? 1 : 0),
  }));
  const stream = await IngestStream.open(init.address, {
    sourceId: `${init.sourcePrefix}-${index}`,
    fileId: `${index + 1}-bench`,
    sidecarId: `bench-sender-${index}`,
    timeoutMs: stopAt - performance.now() + STREAM_SLACK_MS,
  });
  try {
    let offset = Number(stream.welcome.committedOffset);
    for (let sequence = 1; performance.now() < stopAt; sequence++) {
      const ack = await stream.ship({
        sequence,
        startOffset: offset,
        endOffset: offset + BYTES_PER_BATCH,
        deltas,
        rows: init.rowsPerBatch,
        rejected: [],
        anchor: (sequence % 65_536).toString(16).padStart(4, "0"),
        fileBirthUnixMillis: 0,
      });
      if (ack.outcome !== "APPLIED") throw new Error(`sender ${index}: batch ${sequence} was answered ${JSON.stringify(ack)}`);
      offset += BYTES_PER_BATCH;
      if (counting.on) counting.batches++;
    }
  } finally {
    stream.close();
  }
}

runWorker<IngestSenderInit, IngestSenderMessage>(async (init, post) => {
  const counting = { on: false, batches: 0 };
  const startMs = performance.now();
  const stopAt = startMs + init.warmupMs + init.windowMs;
  const senders = Array.from({ length: init.senders }, (_, index) => runSender(init, index, counting, stopAt));
  let windowStartMs = 0;
  const window = (async () => {
    await new Promise((resolve) => setTimeout(resolve, init.warmupMs));
    counting.on = true;
    windowStartMs = performance.now();
    post({ type: "window-start" });
    await new Promise((resolve) => setTimeout(resolve, init.windowMs));
    counting.on = false;
    const seconds = (performance.now() - windowStartMs) / 1000;
    post({ type: "window-end", batches: counting.batches, rows: counting.batches * init.rowsPerBatch, seconds });
  })();
  await Promise.all([...senders, window]);
  process.disconnect?.();
});

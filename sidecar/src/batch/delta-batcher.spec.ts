import { test } from "node:test";
import * as assert from "node:assert/strict";
import { MAX_DELTAS_PER_BATCH, type RejectReason } from "@logtally/proto";
import { DeltaBatcher, emptyTally, type LineTally, type SealedBatch } from "./delta-batcher";
import { LineSplitter } from "../parse/line-splitter";
import { RowCache } from "../parse/row-cache";
import { seededRandom } from "@logtally/testing";

interface FeedOptions {
  /** Offset of the first byte; the splitter's start offset. Default 0. */
  startOffset?: number;
  /** Default 1024. */
  maxLineBytes?: number;
  /** Default: the whole input in one chunk. */
  nextChunkBytes?: () => number;
}

/** Pushes `text` through a real splitter into `batcher`, in chunks. */
function feed(batcher: DeltaBatcher, text: string | Buffer, options: FeedOptions = {}): LineSplitter {
  const startOffset = options.startOffset ?? 0;
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  const splitter = new LineSplitter({ maxLineBytes: options.maxLineBytes ?? 1024 }, startOffset);
  const nextChunkBytes = options.nextChunkBytes ?? (() => bytes.length);
  let fed = 0;
  while (fed < bytes.length) {
    const chunk = bytes.subarray(fed, fed + Math.max(1, nextChunkBytes()));
    splitter.push(chunk, batcher, startOffset + fed);
    fed += chunk.length;
  }
  return splitter;
}

/** Feeds `text`, seals what is open and returns every batch. */
function batchesOf(text: string | Buffer, maxBatchBytes: number, options: FeedOptions = {}): SealedBatch[] {
  const batcher = new DeltaBatcher(maxBatchBytes);
  feed(batcher, text, options);
  batcher.seal();
  return batcher.takeSealed();
}

const pairKey = (host: string, jobName: string): string => `${host}\u0000${jobName}`;

/** Per-pair counts over all batches, failing if one batch lists a pair twice. */
function sumDeltas(batches: readonly SealedBatch[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const batch of batches) {
    const seen = new Set<string>();
    for (const { labels, count } of batch.deltas) {
      const key = pairKey(labels[0]!, labels[1]!);
      assert.ok(!seen.has(key), `pair ${JSON.stringify(labels)} listed twice in one batch`);
      seen.add(key);
      assert.ok(count > 0, `non-positive count ${count}`);
      counts.set(key, (counts.get(key) ?? 0) + count);
    }
  }
  return counts;
}

/** Per-reason rejected counts over all batches. */
function sumRejected(batches: readonly SealedBatch[]): Map<RejectReason, number> {
  const counts = new Map<RejectReason, number>();
  for (const batch of batches) {
    for (const { reason, count } of batch.rejected) counts.set(reason, (counts.get(reason) ?? 0) + count);
  }
  return counts;
}

/** Checks that the batches tile [start, end) without gaps or empty batches, and rows add up per batch. */
function assertTiles(batches: readonly SealedBatch[], start: number, end: number, context = ""): void {
  if (start === end) {
    assert.deepEqual(batches, [], `${context}: no complete line, no batch`);
    return;
  }
  assert.ok(batches.length > 0, `${context}: expected batches covering [${start}, ${end})`);
  let expectedStart = start;
  for (const [index, batch] of batches.entries()) {
    assert.equal(batch.startOffset, expectedStart, `${context}: batch ${index} starts at the previous end`);
    assert.ok(batch.endOffset > batch.startOffset, `${context}: batch ${index} covers at least one line`);
    const deltaSum = batch.deltas.reduce((sum, delta) => sum + delta.count, 0);
    assert.equal(batch.rows, deltaSum, `${context}: batch ${index} rows equal the sum of its deltas`);
    assert.ok(batch.deltas.length <= MAX_DELTAS_PER_BATCH, `${context}: batch ${index} within the pair limit`);
    expectedStart = batch.endOffset;
  }
  assert.equal(expectedStart, end, `${context}: last batch ends at the last complete line`);
}

test("one batch counts rows per pair and covers exactly the complete lines", () => {
  const text = 'host,job_name\nh1,backup\nh2,backup\nh1,backup\n h1 , "backup"\r\nh1,restore\nh3,partial';
  const batches = batchesOf(text, 1 << 20, { startOffset: 0 });
  const lastNewline = Buffer.byteLength(text) - "h3,partial".length;
  assertTiles(batches, 0, lastNewline);
  assert.equal(batches.length, 1);
  const batch = batches[0]!;
  assert.equal(batch.rows, 5);
  assert.deepEqual(
    sumDeltas(batches),
    new Map([
      [pairKey("h1", "backup"), 3],
      [pairKey("h2", "backup"), 1],
      [pairKey("h1", "restore"), 1],
    ]),
  );
  assert.deepEqual(batch.rejected, []);
});

test("nothing is sealed before the first complete line", () => {
  const batcher = new DeltaBatcher(1);
  feed(batcher, "h1,partial-without-newline", { startOffset: 40 });
  batcher.seal();
  assert.deepEqual(batcher.takeSealed(), []);
});

test("the first batch starts at the splitter's start offset", () => {
  const batches = batchesOf("h1,j1\nh2,j2\n", 1 << 20, { startOffset: 12_345 });
  assertTiles(batches, 12_345, 12_345 + 12);
  assert.equal(batches[0]?.rows, 2);
});

test("rejected lines are counted by reason inside the range", () => {
  const lines = [
    Buffer.from("h1,j1\n"),
    Buffer.from("no-comma-here\n"),
    Buffer.concat([Buffer.from("h"), Buffer.from([0xff, 0xfe]), Buffer.from(",j1\n")]),
    Buffer.from("h2,j2\n"),
    Buffer.from(`${"x".repeat(40)},long\n`),
    Buffer.from("only-one-field\r\n"),
    Buffer.from(",empty-host\n"),
    Buffer.from("h1,j1\n"),
  ];
  const text = Buffer.concat(lines);
  const tally = emptyTally();
  const batcher = new DeltaBatcher(1 << 20, tally);
  feed(batcher, text, { startOffset: 1000, maxLineBytes: 24 });
  batcher.seal();
  const batches = batcher.takeSealed();
  assertTiles(batches, 1000, 1000 + text.length);
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.rows, 3);
  assert.deepEqual(
    sumRejected(batches),
    new Map<RejectReason, number>([
      ["too_few_fields", 2],
      ["invalid_utf8", 1],
      ["line_too_long", 1],
      ["empty_field", 1],
    ]),
  );
  assert.equal(tally.counted, 3);
  assert.equal(tally.skipped, 0);
  assert.deepEqual(tally.rejected, sumRejected(batches));
});

test("a batch of only rejected lines still covers them", () => {
  const text = "bad\nworse\n";
  const batches = batchesOf(text, 1 << 20, { startOffset: 7 });
  assertTiles(batches, 7, 7 + text.length);
  assert.deepEqual(batches[0]?.deltas, []);
  assert.equal(batches[0]?.rows, 0);
  assert.deepEqual(batches[0]?.rejected, [{ reason: "too_few_fields", count: 2 }]);
});

test("an overlong line alone makes a batch", () => {
  const text = `${"y".repeat(100)}\n`;
  const batches = batchesOf(text, 1 << 20, { startOffset: 0, maxLineBytes: 16, nextChunkBytes: () => 7 });
  assertTiles(batches, 0, text.length);
  assert.deepEqual(batches[0]?.rejected, [{ reason: "line_too_long", count: 1 }]);
});

test("header and blank lines advance the range but count nothing", () => {
  const text = "host,job_name\n\n  \t\n\r\n";
  const tally = emptyTally();
  const batcher = new DeltaBatcher(1 << 20, tally);
  feed(batcher, text, { startOffset: 0 });
  batcher.seal();
  const batches = batcher.takeSealed();
  assertTiles(batches, 0, text.length);
  assert.deepEqual(batches, [{ startOffset: 0, endOffset: text.length, deltas: [], rows: 0, rejected: [] }]);
  assert.deepEqual(tally, { counted: 0, skipped: 4, filtered: 0, rejected: new Map() });
});

test("the header is only a header at offset 0", () => {
  const batches = batchesOf("host,job_name\n", 1 << 20, { startOffset: 500 });
  assert.deepEqual(batches, [{ startOffset: 500, endOffset: 514, deltas: [{ labels: ["host", "job_name"], count: 1 }], rows: 1, rejected: [] }]);
});

test("a batch is sealed as soon as it covers maxBatchBytes", () => {
  // Lines of 6 bytes; 13 bytes are reached by the third line of each batch.
  const batcher = new DeltaBatcher(13);
  feed(batcher, "h1,j1\n".repeat(10), { startOffset: 0 });
  const sealed = batcher.takeSealed();
  assert.deepEqual(
    sealed.map((batch) => [batch.startOffset, batch.endOffset, batch.rows]),
    [
      [0, 18, 3],
      [18, 36, 3],
      [36, 54, 3],
    ],
  );
  // The last line is still open: only seal() hands it over.
  assert.deepEqual(batcher.takeSealed(), []);
  batcher.seal();
  const rest = batcher.takeSealed();
  assert.deepEqual(rest, [{ startOffset: 54, endOffset: 60, deltas: [{ labels: ["h1", "j1"], count: 1 }], rows: 1, rejected: [] }]);
  // Later lines of the same pair did not change batches already sealed.
  assert.deepEqual(sealed[0]?.deltas, [{ labels: ["h1", "j1"], count: 3 }]);
});

test("a batch overruns maxBatchBytes by at most its last line, which is never split", () => {
  // 4 + 4 bytes, then a 19-byte line: the batch reaches 10 bytes only with it.
  const batches = batchesOf("a,b\nc,d\nlong-host,long-job\ne,f\n", 10, { startOffset: 0 });
  assert.deepEqual(
    batches.map((batch) => [batch.startOffset, batch.endOffset, batch.rows]),
    [
      [0, 27, 3],
      [27, 31, 1],
    ],
  );
  // Lines of exactly maxBatchBytes: one batch each.
  const exact = batchesOf("abcd,efgh\nabcd,efgh\n", 10, { startOffset: 0 });
  assert.deepEqual(
    exact.map((batch) => [batch.startOffset, batch.endOffset]),
    [
      [0, 10],
      [10, 20],
    ],
  );
});

test("a batch is sealed before a line that would exceed the pair limit", () => {
  const lines: string[] = [];
  for (let index = 0; index < MAX_DELTAS_PER_BATCH; index += 1) lines.push(`host-${index},job\n`);
  // A pair the full batch already holds does not need a new batch...
  lines.push("host-0,job\n");
  // ...a new one does, and a known pair after it goes into the new batch.
  lines.push(`host-${MAX_DELTAS_PER_BATCH},job\n`);
  lines.push("host-0,job\n");
  lines.push("host-1,job\n");
  const text = lines.join("");
  const startOffset = 4096;
  const batches = batchesOf(text, 1 << 30, { startOffset, nextChunkBytes: () => 65_536 });
  assertTiles(batches, startOffset, startOffset + Buffer.byteLength(text));
  assert.equal(batches.length, 2);
  const [first, second] = batches as [SealedBatch, SealedBatch];
  assert.equal(first.deltas.length, MAX_DELTAS_PER_BATCH);
  assert.equal(first.rows, MAX_DELTAS_PER_BATCH + 1);
  const secondStart = startOffset + Buffer.byteLength(lines.slice(0, MAX_DELTAS_PER_BATCH + 1).join(""));
  assert.equal(second.startOffset, secondStart);
  assert.deepEqual(second.deltas, [
    { labels: [`host-${MAX_DELTAS_PER_BATCH}`, "job"], count: 1 },
    { labels: ["host-0", "job"], count: 1 },
    { labels: ["host-1", "job"], count: 1 },
  ]);
  const totals = sumDeltas(batches);
  assert.equal(totals.size, MAX_DELTAS_PER_BATCH + 1);
  assert.equal(totals.get(pairKey("host-0", "job")), 3);
  assert.equal(totals.get(pairKey("host-1", "job")), 2);
  assert.equal(totals.get(pairKey("host-2", "job")), 1);
  assert.equal(first.rows + second.rows, lines.length);
});

test("more than twice the pair limit in distinct hosts splits into three batches that add up", () => {
  const hosts = 2 * MAX_DELTAS_PER_BATCH + 7;
  const text = Array.from({ length: hosts }, (_, index) => `h${index},j\n`).join("");
  const batches = batchesOf(text, 1 << 30, { startOffset: 0 });
  assertTiles(batches, 0, Buffer.byteLength(text));
  assert.deepEqual(
    batches.map((batch) => batch.deltas.length),
    [MAX_DELTAS_PER_BATCH, MAX_DELTAS_PER_BATCH, 7],
  );
  assert.equal(sumDeltas(batches).size, hosts);
});

test("a row cache that fills mid-batch loses no row and lists no pair twice", () => {
  // 4 distinct lines fit; the cache is cleared over and over while batches are open.
  const rowCache = new RowCache(4, 1 << 10);
  const batcher = new DeltaBatcher(1 << 30, emptyTally(), rowCache.parser, rowCache);
  const lines: string[] = [];
  const expected = new Map<string, number>();
  const random = seededRandom(7);
  for (let i = 0; i < 2_000; i++) {
    const host = `h${Math.floor(random() * 9)}`;
    // Differently written lines of one pair merge into one delta.
    lines.push(random() < 0.3 ? `"${host}", j` : `${host},j`);
    expected.set(pairKey(host, "j"), (expected.get(pairKey(host, "j")) ?? 0) + 1);
  }
  const text = `first,line\n${lines.join("\n")}\n`;
  expected.set(pairKey("first", "line"), 1);
  feed(batcher, text, { startOffset: 0, nextChunkBytes: () => 1 + Math.floor(random() * 64) });
  batcher.seal();
  const batches = batcher.takeSealed();
  assertTiles(batches, 0, Buffer.byteLength(text));
  assert.deepEqual(sumDeltas(batches), expected);
});

test("discard() forgets the open batch's counts: what is fed next starts from zero", () => {
  const batcher = new DeltaBatcher(1 << 30);
  feed(batcher, "h0,j0\nh0,j0\n", { startOffset: 10 });
  batcher.discard();
  feed(batcher, "h0,j0\n", { startOffset: 10 });
  batcher.seal();
  assert.deepEqual(
    batcher.takeSealed().map((batch) => batch.deltas),
    [[{ labels: ["h0", "j0"], count: 1 }]],
  );
});

test("discard() drops sealed and open batches not yet taken", () => {
  const batcher = new DeltaBatcher(12);
  feed(batcher, "h0,j0\nh0,j0\n", { startOffset: 0 });
  const taken = batcher.takeSealed();
  assert.deepEqual(taken, [{ startOffset: 0, endOffset: 12, deltas: [{ labels: ["h0", "j0"], count: 2 }], rows: 2, rejected: [] }]);
  // [12, 24) is sealed and [24, 30) still open when the reader moves away.
  feed(batcher, "h1,j1\nh2,j2\nh3,j3\n", { startOffset: 12 });
  batcher.discard();
  assert.deepEqual(batcher.takeSealed(), []);
  batcher.seal();
  assert.deepEqual(batcher.takeSealed(), [], "nothing open survives discard()");
  // Re-reading from elsewhere starts a fresh batch at that offset.
  feed(batcher, "h9,j9\n", { startOffset: 6 });
  batcher.seal();
  assert.deepEqual(batcher.takeSealed(), [{ startOffset: 6, endOffset: 12, deltas: [{ labels: ["h9", "j9"], count: 1 }], rows: 1, rejected: [] }]);
  // Batches taken before are the caller's and unchanged.
  assert.equal(taken[0]?.deltas[0]?.count, 2);
});

test("takeSealed() hands each batch over once", () => {
  const batcher = new DeltaBatcher(6);
  feed(batcher, "h1,j1\nh2,j2\n", { startOffset: 0 });
  assert.equal(batcher.takeSealed().length, 2);
  assert.deepEqual(batcher.takeSealed(), []);
  batcher.seal();
  assert.deepEqual(batcher.takeSealed(), [], "seal() with nothing open seals nothing");
});

test("one tally accumulates across batchers", () => {
  const tally: LineTally = emptyTally();
  const first = new DeltaBatcher(1 << 20, tally);
  feed(first, "host,job_name\nh1,j1\nbad\n\n", { startOffset: 0 });
  assert.deepEqual(tally, { counted: 1, skipped: 2, filtered: 0, rejected: new Map([["too_few_fields", 1]]) });
  const second = new DeltaBatcher(1 << 20, tally);
  feed(second, "h1,j1\nh2,j2\nalso-bad\n,x\n", { startOffset: 100 });
  assert.deepEqual(tally, {
    counted: 3,
    skipped: 2,
    filtered: 0,
    rejected: new Map<RejectReason, number>([
      ["too_few_fields", 2],
      ["empty_field", 1],
    ]),
  });
  // A batcher without a tally of its own does not touch this one.
  feed(new DeltaBatcher(1 << 20), "h3,j3\n", { startOffset: 0 });
  assert.equal(tally.counted, 3);
});

interface Reference {
  bytes: Buffer;
  pairs: Map<string, number>;
  rejected: Map<RejectReason, number>;
  rows: number;
  skipped: number;
  /** Offsets (relative to the input) just after each complete line. */
  lineEnds: number[];
}

/** Random input whose per-line outcome is known as it is generated. */
function randomInput(random: () => number, atFileStart: boolean, maxLineBytes: number, lineCount: number): Reference {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const hosts = ["h1", "h2", "web-3", "s\u00e9rveur", "\u6771\u4eac"];
  const jobs = ["backup", "j", "job name"];
  const reference: Reference = { bytes: Buffer.alloc(0), pairs: new Map(), rejected: new Map(), rows: 0, skipped: 0, lineEnds: [] };
  const reject = (reason: RejectReason): void => void reference.rejected.set(reason, (reference.rejected.get(reason) ?? 0) + 1);
  const pieces: Buffer[] = [];
  let length = 0;
  const push = (line: Buffer): void => {
    pieces.push(line);
    length += line.length;
    reference.lineEnds.push(length);
  };
  if (atFileStart && random() < 0.5) {
    push(Buffer.from("host,job_name\n"));
    reference.skipped += 1;
  }
  for (let index = 0; index < lineCount; index += 1) {
    const shape = random();
    const eol = random() < 0.3 ? "\r\n" : "\n";
    if (shape < 0.55) {
      const host = pick(hosts);
      const jobName = pick(jobs);
      const quoted = random() < 0.2;
      push(Buffer.from(quoted ? ` "${host}" ,${jobName}${eol}` : `${host},${jobName}${eol}`, "utf8"));
      const key = pairKey(host, jobName);
      reference.pairs.set(key, (reference.pairs.get(key) ?? 0) + 1);
      reference.rows += 1;
    } else if (shape < 0.65) {
      push(Buffer.from(`${pick(hosts)}${eol}`, "utf8"));
      reject("too_few_fields");
    } else if (shape < 0.72) {
      push(Buffer.concat([Buffer.from(pick(hosts)), Buffer.from([0xc3, 0x28]), Buffer.from(`,${pick(jobs)}${eol}`)]));
      reject("invalid_utf8");
    } else if (shape < 0.78) {
      push(Buffer.from(`,${pick(jobs)}${eol}`));
      reject("empty_field");
    } else if (shape < 0.82) {
      push(Buffer.from(`"${pick(hosts)},${pick(jobs)}${eol}`, "utf8"));
      reject("unbalanced_quotes");
    } else if (shape < 0.9) {
      push(Buffer.from(`${"z".repeat(maxLineBytes + 1 + Math.floor(random() * 3 * maxLineBytes))},j${eol}`));
      reject("line_too_long");
    } else {
      push(Buffer.from(pick(["", " ", "\t \t"]) + eol));
      reference.skipped += 1;
    }
  }
  if (random() < 0.7) pieces.push(Buffer.from(`${pick(hosts)},unfinished`, "utf8"));
  reference.bytes = Buffer.concat(pieces);
  return reference;
}

test("random input, chunking and batch size: batches tile the range and add up to the reference", () => {
  for (let seed = 1; seed <= 200; seed += 1) {
    const random = seededRandom(seed);
    const context = `seed ${seed}`;
    const maxLineBytes = 24 + Math.floor(random() * 40);
    const startOffset = random() < 0.4 ? 0 : Math.floor(random() * 1e9);
    const reference = randomInput(random, startOffset === 0, maxLineBytes, Math.floor(random() * 120));
    const maxBatchBytes = 1 + Math.floor(random() * 400);
    const maxChunkBytes = 1 + Math.floor(random() * 300);
    const tally = emptyTally();
    const batcher = new DeltaBatcher(maxBatchBytes, tally);
    const splitter = new LineSplitter({ maxLineBytes }, startOffset);
    const batches: SealedBatch[] = [];
    let fed = 0;
    while (fed < reference.bytes.length) {
      const chunk = reference.bytes.subarray(fed, fed + 1 + Math.floor(random() * maxChunkBytes));
      splitter.push(chunk, batcher, startOffset + fed);
      fed += chunk.length;
      // Ship at random moments, as the shipper does after each read.
      if (random() < 0.3) batches.push(...batcher.takeSealed());
    }
    batches.push(...batcher.takeSealed());
    // Caught up: the shipper seals what is open.
    batcher.seal();
    batches.push(...batcher.takeSealed());

    const lastLineEnd = reference.lineEnds.at(-1) ?? 0;
    assert.equal(splitter.completeOffset, startOffset + lastLineEnd, context);
    assertTiles(batches, startOffset, startOffset + lastLineEnd, context);
    assert.deepEqual(sumDeltas(batches), reference.pairs, context);
    assert.deepEqual(sumRejected(batches), reference.rejected, context);
    assert.equal(
      batches.reduce((sum, batch) => sum + batch.rows, 0),
      reference.rows,
      context,
    );
    assert.deepEqual(tally, { counted: reference.rows, skipped: reference.skipped, filtered: 0, rejected: reference.rejected }, context);

    // Every batch but the last was sealed by size, and as soon as it reached it.
    const lineEnds = new Set(reference.lineEnds.map((end) => startOffset + end));
    for (const [index, batch] of batches.entries()) {
      const covered = batch.endOffset - batch.startOffset;
      if (index < batches.length - 1) assert.ok(covered >= maxBatchBytes, `${context}: batch ${index} covers ${covered} < ${maxBatchBytes}`);
      for (let offset = batch.startOffset + 1; offset < batch.endOffset; offset += 1) {
        if (lineEnds.has(offset)) {
          assert.ok(offset - batch.startOffset < maxBatchBytes, `${context}: batch ${index} should have been sealed at ${offset}`);
        }
      }
    }
  }
});

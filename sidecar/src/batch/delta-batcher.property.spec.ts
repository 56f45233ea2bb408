import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_DELTAS_PER_BATCH, type RejectReason } from "@logtally/proto";
import { DeltaBatcher, emptyTally, type LineTally, type SealedBatch } from "./delta-batcher";
import { LineSplitter } from "../parse/line-splitter";
import { RowCache } from "../parse/row-cache";
import { parseRow } from "../parse/row-parser";
import { chunkSizes, cut, hostileBytes, throughOneReadBuffer } from "../testing/hostile-bytes";
import { propertyRuns } from "../testing/property-runs";

/** What the lines of an input amount to. */
interface Outcome {
  /** Complete lines. */
  lines: number;
  /** Rows per "host\0job_name". */
  pairs: Map<string, number>;
  rejected: Map<RejectReason, number>;
  skipped: number;
}

const pairKey = (host: string, jobName: string): string => `${host}\u0000${jobName}`;
const add = <K>(counts: Map<K, number>, key: K, count = 1): void => void counts.set(key, (counts.get(key) ?? 0) + count);

/**
 * The reference model: the whole input split at every "\n" in one go, each
 * line too long for `maxLineBytes` rejected, every other parsed on its own.
 */
function referenceOutcome(bytes: Buffer, startOffset: number, maxLineBytes: number): Outcome {
  const outcome: Outcome = { lines: 0, pairs: new Map(), rejected: new Map(), skipped: 0 };
  let start = 0;
  for (let newline = bytes.indexOf(0x0a); newline !== -1; newline = bytes.indexOf(0x0a, start)) {
    outcome.lines += 1;
    const parsed =
      newline - start > maxLineBytes
        ? ({ kind: "rejected", reason: "line_too_long" } as const)
        : parseRow(bytes.subarray(start, newline), startOffset + start === 0);
    if (parsed.kind === "row") add(outcome.pairs, pairKey(parsed.labels[0]!, parsed.labels[1]!));
    else if (parsed.kind === "rejected") add(outcome.rejected, parsed.reason);
    else outcome.skipped += 1;
    start = newline + 1;
  }
  return outcome;
}

/** What the batches report, checking on the way that no batch lists a pair twice or counts a pair at zero. */
function batchedOutcome(batches: readonly SealedBatch[], skipped: number): Outcome {
  const outcome: Outcome = { lines: skipped, pairs: new Map(), rejected: new Map(), skipped };
  for (const batch of batches) {
    const inBatch = new Set<string>();
    let rows = 0;
    for (const { labels, count } of batch.deltas) {
      const key = pairKey(labels[0]!, labels[1]!);
      assert.ok(!inBatch.has(key), `pair ${JSON.stringify(key)} listed twice in batch [${batch.startOffset}, ${batch.endOffset})`);
      inBatch.add(key);
      assert.ok(Number.isSafeInteger(count) && count > 0, `count ${count}`);
      add(outcome.pairs, key, count);
      rows += count;
    }
    assert.equal(batch.rows, rows, `rows of batch [${batch.startOffset}, ${batch.endOffset}) equal the sum of its deltas`);
    assert.ok(batch.deltas.length <= MAX_DELTAS_PER_BATCH);
    outcome.lines += batch.rows;
    for (const { reason, count } of batch.rejected) {
      assert.ok(Number.isSafeInteger(count) && count > 0, `rejected count ${count}`);
      add(outcome.rejected, reason, count);
      outcome.lines += count;
    }
  }
  return outcome;
}

/** Checks that `batches` tile [start, end): each begins where the one before ended, and none is empty. */
function assertTiles(batches: readonly SealedBatch[], start: number, end: number): void {
  let expectedStart = start;
  for (const batch of batches) {
    assert.equal(batch.startOffset, expectedStart, "a batch starts where the one before ended");
    assert.ok(batch.endOffset > batch.startOffset, `empty batch at ${batch.startOffset}`);
    expectedStart = batch.endOffset;
  }
  assert.equal(expectedStart, end, "the batches end at the end of the last complete line");
}

/**
 * Checks that each batch is sealed once it covers `maxBatchBytes`, and not
 * before unless it is the last: what a batch holds stays bounded by the batch
 * size plus one line, whatever the lines.
 */
function assertSealedBySize(batches: readonly SealedBatch[], lineEnds: ReadonlySet<number>, maxBatchBytes: number): void {
  for (const [index, batch] of batches.entries()) {
    const covered = batch.endOffset - batch.startOffset;
    if (index < batches.length - 1) assert.ok(covered >= maxBatchBytes, `batch ${index} covers ${covered} < ${maxBatchBytes} bytes`);
    for (let offset = batch.startOffset + 1; offset < batch.endOffset; offset += 1) {
      if (lineEnds.has(offset)) assert.ok(offset - batch.startOffset < maxBatchBytes, `batch ${index} should have been sealed at ${offset}`);
    }
  }
}

const scenario = fc.record({
  bytes: hostileBytes(),
  chunkSizes: chunkSizes(),
  startOffset: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 })),
  maxLineBytes: fc.oneof(fc.integer({ min: 1, max: 48 }), fc.constant(2048)),
  maxBatchBytes: fc.oneof(fc.integer({ min: 1, max: 600 }), fc.constant(2 ** 30)),
  // Tiny caches are cleared over and over while batches are open.
  rowCache: fc.constantFrom({ maxEntries: 1, arenaBytes: 16 }, { maxEntries: 4, arenaBytes: 64 }, { maxEntries: 64, arenaBytes: 4096 }),
  // Whether the shipper takes the sealed batches after each chunk.
  takeAfterChunk: fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** What streaming a scenario's bytes through a splitter into a batcher left behind. */
interface Streamed {
  readonly splitter: LineSplitter;
  readonly batcher: DeltaBatcher;
  readonly tally: LineTally;
  /** Every batch sealed, the open one included. */
  readonly batches: SealedBatch[];
  /** True if the row cache was full and cleared on the way. */
  readonly cacheCleared: boolean;
}

/**
 * Streams the bytes as the sidecar does: chunk by chunk through one read
 * buffer, taking sealed batches now and then, sealing at the end. Checks the
 * memory bounds after every chunk.
 */
function stream({ bytes, chunkSizes, startOffset, maxLineBytes, maxBatchBytes, rowCache: { maxEntries, arenaBytes }, takeAfterChunk }: Scenario): Streamed {
  const rowCache = new RowCache(maxEntries, arenaBytes);
  const tally = emptyTally();
  const batcher = new DeltaBatcher(maxBatchBytes, tally, rowCache.parser, rowCache);
  const splitter = new LineSplitter({ maxLineBytes }, startOffset);
  const batches: SealedBatch[] = [];
  let cacheCleared = false;
  let fed = 0;
  let chunkIndex = 0;
  for (const chunk of throughOneReadBuffer(cut(bytes, chunkSizes))) {
    const sizeBefore = rowCache.size;
    splitter.push(chunk, batcher, startOffset + fed);
    fed += chunk.length;
    if (rowCache.size < sizeBefore) cacheCleared = true;
    assert.ok(splitter.pendingBytes <= maxLineBytes, `pendingBytes ${splitter.pendingBytes} > maxLineBytes ${maxLineBytes}`);
    assert.ok(rowCache.size <= maxEntries, `row cache holds ${rowCache.size} > ${maxEntries} lines`);
    if (takeAfterChunk[chunkIndex++ % takeAfterChunk.length]) batches.push(...batcher.takeSealed());
  }
  batcher.seal();
  batches.push(...batcher.takeSealed());
  return { splitter, batcher, tally, batches, cacheCleared };
}

test("over any chunking of arbitrary bytes, the batches tile the complete lines and account for each once", () => {
  fc.assert(
    fc.property(scenario, (scenario) => {
      const { bytes, startOffset, maxLineBytes } = scenario;
      const { splitter, batcher, tally, batches } = stream(scenario);
      const lastLineEnd = bytes.lastIndexOf(0x0a) + 1;
      assertTiles(batches, startOffset, startOffset + lastLineEnd);
      const lines = bytes.subarray(0, lastLineEnd).filter((byte) => byte === 0x0a).length;
      assert.equal(batchedOutcome(batches, tally.skipped).lines, lines, "counted + rejected + skipped lines = complete lines");
      assert.equal(splitter.completeOffset, startOffset + lastLineEnd);
      assert.equal(splitter.readOffset - splitter.completeOffset, bytes.length - lastLineEnd, "the tail is the bytes after the last newline");

      // The newline that completes the tail makes it one more line, read as the tail alone would be.
      const newline = Buffer.from("\n");
      splitter.push(newline, batcher, startOffset + bytes.length);
      batcher.seal();
      const last = batcher.takeSealed();
      assertTiles(last, startOffset + lastLineEnd, startOffset + bytes.length + 1);
      assert.deepEqual(batchedOutcome([...batches, ...last], tally.skipped), referenceOutcome(Buffer.concat([bytes, newline]), startOffset, maxLineBytes));
    }),
    propertyRuns(1000),
  );
});

test("over any chunking, batch size and row cache, the per-pair counts and per-reason rejections are the reference model's", () => {
  let cacheCleared = false;
  fc.assert(
    fc.property(scenario, (scenario) => {
      const streamed = stream(scenario);
      cacheCleared ||= streamed.cacheCleared;
      const expected = referenceOutcome(scenario.bytes, scenario.startOffset, scenario.maxLineBytes);
      assert.deepEqual(batchedOutcome(streamed.batches, streamed.tally.skipped), expected);
      const counted = [...expected.pairs.values()].reduce((sum, count) => sum + count, 0);
      assert.deepEqual(streamed.tally, { counted, skipped: expected.skipped, filtered: 0, rejected: expected.rejected });
    }),
    propertyRuns(1000),
  );
  assert.ok(cacheCleared, "no run filled and cleared the row cache");
});

test("whatever the lines, a batch is sealed as soon as it covers the batch size", () => {
  fc.assert(
    fc.property(scenario, (scenario) => {
      const { bytes, startOffset, maxBatchBytes } = scenario;
      const lineEnds = new Set<number>();
      for (let newline = bytes.indexOf(0x0a); newline !== -1; newline = bytes.indexOf(0x0a, newline + 1)) lineEnds.add(startOffset + newline + 1);
      assertSealedBySize(stream(scenario).batches, lineEnds, maxBatchBytes);
    }),
    propertyRuns(1000),
  );
});

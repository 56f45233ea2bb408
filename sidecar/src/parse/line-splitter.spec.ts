import { test } from "node:test";
import * as assert from "node:assert/strict";
import { LineSplitter, type LineSink } from "./line-splitter";
import { seededRandom } from "@logtally/testing";
import { referenceSplit, type SplitEvent } from "../testing/reference-splitter";

type LineEvent = SplitEvent;

/** Records what the splitter reports; lines are copied (as latin1, byte for byte) since views die with the call. */
class RecordingSink implements LineSink {
  readonly events: LineEvent[] = [];
  line(bytes: Buffer, from: number, to: number, startOffset: number, endOffset: number): void {
    this.events.push({ kind: "line", content: bytes.toString("latin1", from, to), startOffset, endOffset });
  }
  overlong(startOffset: number, endOffset: number): void {
    this.events.push({ kind: "overlong", startOffset, endOffset });
  }
}

/**
 * Random file content around `maxLineBytes`: empty lines, CRLF, lines at and
 * just past the limit, much longer lines, multi-byte characters, and usually a
 * trailing partial line.
 */
function randomText(random: () => number, maxLineBytes: number, lineCount: number): Buffer {
  const pieces: string[] = [];
  const alphabet = ["a", "b", ",", " ", "\r", "\u00e9", "\u6771", '"', "\u0000"];
  const randomLine = (targetBytes: number): string => {
    let line = "";
    while (Buffer.byteLength(line) < targetBytes) {
      line += alphabet[Math.floor(random() * alphabet.length)] ?? "a";
    }
    return line;
  };
  for (let index = 0; index < lineCount; index += 1) {
    const shape = random();
    let targetBytes: number;
    if (shape < 0.2) targetBytes = 0;
    else if (shape < 0.6) targetBytes = Math.floor(random() * maxLineBytes);
    else if (shape < 0.85) targetBytes = maxLineBytes - 1 + Math.floor(random() * 3);
    else targetBytes = Math.floor(random() * 6 * maxLineBytes);
    pieces.push(randomLine(targetBytes) + (random() < 0.3 ? "\r\n" : "\n"));
  }
  if (random() < 0.8) pieces.push(randomLine(Math.floor(random() * 2 * maxLineBytes)));
  return Buffer.from(pieces.join(""), "utf8");
}

/**
 * Feeds `bytes` from `baseOffset` in chunks of the sizes `nextChunkBytes`
 * picks, checking the offsets and the memory bound after every push.
 */
function feed(splitter: LineSplitter, sink: LineSink, bytes: Buffer, baseOffset: number, maxLineBytes: number, nextChunkBytes: () => number): void {
  let fed = 0;
  while (fed < bytes.length) {
    const chunk = bytes.subarray(fed, fed + Math.max(1, nextChunkBytes()));
    splitter.push(chunk, sink, baseOffset + fed);
    fed += chunk.length;
    assert.equal(splitter.readOffset, baseOffset + fed);
    assert.equal(splitter.completeOffset, baseOffset + bytes.lastIndexOf(0x0a, fed - 1) + 1);
    assert.ok(splitter.pendingBytes <= maxLineBytes, `pendingBytes ${splitter.pendingBytes} > ${maxLineBytes}`);
  }
}

test("lines match a reference split whatever the chunking", () => {
  const strategies: Array<[string, (random: () => number) => () => number]> = [
    ["whole", () => () => Number.MAX_SAFE_INTEGER],
    ["byte by byte", () => () => 1],
    ["small random chunks", (random) => () => 1 + Math.floor(random() * 40)],
    ["large random chunks", (random) => () => 1 + Math.floor(random() * 400)],
  ];
  for (let seed = 1; seed <= 40; seed += 1) {
    const random = seededRandom(seed);
    const maxLineBytes = 1 + Math.floor(random() * 24);
    const baseOffset = random() < 0.5 ? 0 : Math.floor(random() * 1e9);
    const bytes = randomText(random, maxLineBytes, 60);
    const expected = referenceSplit(bytes, baseOffset, maxLineBytes);
    const trailingBytes = bytes.length - (bytes.lastIndexOf(0x0a) + 1);
    for (const [name, strategy] of strategies) {
      const splitter = new LineSplitter({ maxLineBytes }, baseOffset);
      const sink = new RecordingSink();
      feed(splitter, sink, bytes, baseOffset, maxLineBytes, strategy(seededRandom(seed * 1000)));
      assert.deepEqual(sink.events, expected, `seed ${seed}, ${name}`);
      assert.equal(splitter.pendingBytes, trailingBytes <= maxLineBytes ? trailingBytes : 0, `seed ${seed}, ${name}`);
    }
  }
});

test("empty lines and CRLF come out with exact offsets", () => {
  const splitter = new LineSplitter({ maxLineBytes: 64 }, 100);
  const sink = new RecordingSink();
  splitter.push(Buffer.from("\na,b\r\n\r\n\nc"), sink, 100);
  assert.deepEqual(sink.events, [
    { kind: "line", content: "", startOffset: 100, endOffset: 101 },
    { kind: "line", content: "a,b\r", startOffset: 101, endOffset: 106 },
    { kind: "line", content: "\r", startOffset: 106, endOffset: 108 },
    { kind: "line", content: "", startOffset: 108, endOffset: 109 },
  ]);
  assert.equal(splitter.completeOffset, 109);
  assert.equal(splitter.readOffset, 110);
  assert.equal(splitter.pendingBytes, 1);
});

test("a line inside one chunk is a range of that chunk, not a copy", () => {
  const splitter = new LineSplitter({ maxLineBytes: 64 }, 0);
  const chunk = Buffer.from("first\nsecond\n");
  const ranges: Array<[Buffer, number, number]> = [];
  splitter.push(chunk, { line: (bytes, from, to) => void ranges.push([bytes, from, to]), overlong: () => assert.fail("no overlong line") }, 0);
  assert.equal(ranges.length, 2);
  assert.equal(ranges[1]?.[0], chunk);
  assert.deepEqual(ranges[1]?.slice(1), [6, 12]);
});

test("a line spanning chunks is assembled from the carried part and the new chunk", () => {
  const splitter = new LineSplitter({ maxLineBytes: 64 }, 0);
  const sink = new RecordingSink();
  splitter.push(Buffer.from("hel"), sink, 0);
  splitter.push(Buffer.from("lo, "), sink, 3);
  assert.equal(splitter.pendingBytes, 7);
  assert.equal(splitter.completeOffset, 0);
  splitter.push(Buffer.from("world\nnext"), sink, 7);
  assert.deepEqual(sink.events, [{ kind: "line", content: "hello, world", startOffset: 0, endOffset: 13 }]);
  assert.equal(splitter.pendingBytes, 4);
});

test("a long line fed in small pieces stays intact while the carry buffer grows", () => {
  const maxLineBytes = 64 * 1024;
  const random = seededRandom(99);
  const line = Buffer.alloc(maxLineBytes);
  for (let index = 0; index < line.length; index += 1) line[index] = 0x20 + Math.floor(random() * 0x5f);
  const bytes = Buffer.concat([line, Buffer.from("\n")]);
  const splitter = new LineSplitter({ maxLineBytes }, 0);
  const sink = new RecordingSink();
  feed(splitter, sink, bytes, 0, maxLineBytes, () => 1 + Math.floor(random() * 3000));
  assert.deepEqual(sink.events, referenceSplit(bytes, 0, maxLineBytes));
});

test("a line of exactly maxLineBytes is delivered; one byte more is overlong", () => {
  const maxLineBytes = 8;
  const text = "12345678\n123456789\n1234567\r\n1234567\r\r\n";
  for (const chunkBytes of [text.length, 5, 1]) {
    const splitter = new LineSplitter({ maxLineBytes }, 0);
    const sink = new RecordingSink();
    feed(splitter, sink, Buffer.from(text), 0, maxLineBytes, () => chunkBytes);
    assert.deepEqual(
      sink.events,
      [
        { kind: "line", content: "12345678", startOffset: 0, endOffset: 9 },
        { kind: "overlong", startOffset: 9, endOffset: 19 },
        // The "\r" counts towards the limit: it is part of the line given to the sink.
        { kind: "line", content: "1234567\r", startOffset: 19, endOffset: 28 },
        { kind: "overlong", startOffset: 28, endOffset: 38 },
      ],
      `chunks of ${chunkBytes}`,
    );
  }
});

test("a 10 MiB line is discarded in constant memory, reported once, and the next line survives", () => {
  const maxLineBytes = 64 * 1024;
  const baseOffset = 1000;
  const splitter = new LineSplitter({ maxLineBytes }, baseOffset);
  const sink = new RecordingSink();
  const chunk = Buffer.alloc(64 * 1024, "x");
  const chunkCount = 160;
  let offset = baseOffset;
  for (let index = 0; index < chunkCount; index += 1) {
    splitter.push(chunk, sink, offset);
    offset += chunk.length;
    // The first chunk may still be a line of exactly maxLineBytes; past it, nothing is kept.
    assert.equal(splitter.pendingBytes, index === 0 ? maxLineBytes : 0);
    assert.equal(splitter.completeOffset, baseOffset);
    assert.equal(splitter.readOffset, offset);
  }
  assert.deepEqual(sink.events, []);
  splitter.push(Buffer.from("\nnext,job\nhalf"), sink, offset);
  const lineEnd = baseOffset + chunkCount * chunk.length + 1;
  assert.deepEqual(sink.events, [
    { kind: "overlong", startOffset: baseOffset, endOffset: lineEnd },
    { kind: "line", content: "next,job", startOffset: lineEnd, endOffset: lineEnd + 9 },
  ]);
  assert.equal(splitter.pendingBytes, 4);
});

test("an overlong line whose newline is in the same chunk as its start is reported like any other", () => {
  const splitter = new LineSplitter({ maxLineBytes: 4 }, 0);
  const sink = new RecordingSink();
  splitter.push(Buffer.from("ab\nlonger line\ncd\n"), sink, 0);
  assert.deepEqual(sink.events, [
    { kind: "line", content: "ab", startOffset: 0, endOffset: 3 },
    { kind: "overlong", startOffset: 3, endOffset: 15 },
    { kind: "line", content: "cd", startOffset: 15, endOffset: 18 },
  ]);
});

test("reset() forgets a partial line, or an overlong one being discarded", () => {
  const splitter = new LineSplitter({ maxLineBytes: 4 }, 0);
  const sink = new RecordingSink();
  splitter.push(Buffer.from("ab\ncd"), sink, 0);
  splitter.reset(50);
  assert.equal(splitter.pendingBytes, 0);
  assert.equal(splitter.completeOffset, 50);
  assert.equal(splitter.readOffset, 50);
  splitter.push(Buffer.from("ef\n"), sink, 50);

  splitter.push(Buffer.from("too long"), sink, 53);
  splitter.reset(0);
  splitter.push(Buffer.from("ok\n"), sink, 0);
  assert.deepEqual(sink.events, [
    { kind: "line", content: "ab", startOffset: 0, endOffset: 3 },
    { kind: "line", content: "ef", startOffset: 50, endOffset: 53 },
    { kind: "line", content: "ok", startOffset: 0, endOffset: 3 },
  ]);
});

test("a chunk at the wrong offset is a RangeError and changes nothing", () => {
  const splitter = new LineSplitter({ maxLineBytes: 16 }, 10);
  const sink = new RecordingSink();
  splitter.push(Buffer.from("a\nb"), sink, 10);
  assert.throws(() => splitter.push(Buffer.from("c\n"), sink, 12), RangeError);
  assert.throws(() => splitter.push(Buffer.from("c\n"), sink, 14), RangeError);
  assert.equal(splitter.readOffset, 13);
  splitter.push(Buffer.from("c\n"), sink, 13);
  assert.deepEqual(sink.events, [
    { kind: "line", content: "a", startOffset: 10, endOffset: 12 },
    { kind: "line", content: "bc", startOffset: 12, endOffset: 15 },
  ]);
});

test("bad options and offsets are rejected at construction", () => {
  for (const maxLineBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new LineSplitter({ maxLineBytes }, 0), RangeError, `maxLineBytes ${maxLineBytes}`);
  }
  for (const offset of [-1, 0.5, Number.NaN]) {
    assert.throws(() => new LineSplitter({ maxLineBytes: 1 }, offset), RangeError, `startOffset ${offset}`);
    assert.throws(() => new LineSplitter({ maxLineBytes: 1 }, 0).reset(offset), RangeError, `reset ${offset}`);
  }
});

test("when the sink throws, the splitter stands just after the line it was given", () => {
  const splitter = new LineSplitter({ maxLineBytes: 16 }, 0);
  const sink = new RecordingSink();
  const failing: LineSink = {
    line: (bytes, from, to, startOffset, endOffset) => {
      sink.line(bytes, from, to, startOffset, endOffset);
      if (bytes.toString("latin1", from, to) === "b") throw new Error("sink failed");
    },
    overlong: (startOffset, endOffset) => sink.overlong(startOffset, endOffset),
  };
  splitter.push(Buffer.from("a\nb"), failing, 0);
  const chunk = Buffer.from("\nc\nd");
  assert.throws(() => splitter.push(chunk, failing, 3), /sink failed/);
  assert.equal(splitter.completeOffset, 4);
  assert.equal(splitter.readOffset, 4);
  assert.equal(splitter.pendingBytes, 0);
  splitter.push(chunk.subarray(splitter.readOffset - 3), failing, splitter.readOffset);
  assert.deepEqual(sink.events, [
    { kind: "line", content: "a", startOffset: 0, endOffset: 2 },
    { kind: "line", content: "b", startOffset: 2, endOffset: 4 },
    { kind: "line", content: "c", startOffset: 4, endOffset: 6 },
  ]);
  assert.equal(splitter.pendingBytes, 1);
});

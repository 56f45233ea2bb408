import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { LineSplitter, type LineSink } from "./line-splitter";
import { chunkSizes, cut, hostileBytes, throughOneReadBuffer } from "../testing/hostile-bytes";
import { propertyRuns } from "../testing/property-runs";
import { referenceSplit, type SplitEvent } from "../testing/reference-splitter";

type LineEvent = SplitEvent;

/**
 * Records the events, and checks on every line the bound on memory that the
 * sink can see: a line is either a range of the chunk being pushed or lies in
 * the splitter's carry buffer, which never grows past maxLineBytes.
 */
class BoundCheckingSink implements LineSink {
  readonly events: LineEvent[] = [];
  chunk: Buffer = Buffer.alloc(0);

  constructor(private readonly maxLineBytes: number) {}

  line(bytes: Buffer, from: number, to: number, startOffset: number, endOffset: number): void {
    if (bytes !== this.chunk) {
      assert.ok(bytes.length <= this.maxLineBytes, `carry buffer of ${bytes.length} bytes exceeds maxLineBytes ${this.maxLineBytes}`);
    }
    assert.ok(0 <= from && from <= to && to <= bytes.length, `range [${from}, ${to}) outside a buffer of ${bytes.length}`);
    this.events.push({ kind: "line", content: bytes.toString("hex", from, to), startOffset, endOffset });
  }

  overlong(startOffset: number, endOffset: number): void {
    this.events.push({ kind: "overlong", startOffset, endOffset });
  }
}

const maxLineBytesArbitrary = fc.oneof(fc.integer({ min: 1, max: 48 }), fc.constantFrom(1024, 2048));
const startOffsetArbitrary = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 50 }));

test("over any chunking of arbitrary bytes, the splitter never throws, holds at most maxLineBytes and reports exactly the reference lines", () => {
  fc.assert(
    fc.property(hostileBytes(), chunkSizes(), maxLineBytesArbitrary, startOffsetArbitrary, (bytes, sizes, maxLineBytes, startOffset) => {
      const splitter = new LineSplitter({ maxLineBytes }, startOffset);
      const sink = new BoundCheckingSink(maxLineBytes);
      let fed = 0;
      for (const chunk of throughOneReadBuffer(cut(bytes, sizes))) {
        sink.chunk = chunk;
        splitter.push(chunk, sink, startOffset + fed);
        fed += chunk.length;
        assert.ok(splitter.pendingBytes <= maxLineBytes, `pendingBytes ${splitter.pendingBytes} > maxLineBytes ${maxLineBytes}`);
        assert.equal(splitter.readOffset, startOffset + fed);
        assert.equal(splitter.completeOffset, startOffset + bytes.lastIndexOf(0x0a, fed - 1) + 1);
      }
      assert.deepEqual(sink.events, referenceSplit(bytes, startOffset, maxLineBytes, "hex"));
      // The lines tile [startOffset, completeOffset): no byte is lost or counted twice.
      let expectedStart = startOffset;
      for (const event of sink.events) {
        assert.equal(event.startOffset, expectedStart);
        expectedStart = event.endOffset;
      }
      assert.equal(expectedStart, splitter.completeOffset);
    }),
    propertyRuns(1000),
  );
});

test("the pending tail is exactly the bytes after the last newline", () => {
  fc.assert(
    fc.property(hostileBytes(), chunkSizes(), maxLineBytesArbitrary, startOffsetArbitrary, (bytes, sizes, maxLineBytes, startOffset) => {
      const splitter = new LineSplitter({ maxLineBytes }, startOffset);
      const sink = new BoundCheckingSink(maxLineBytes);
      let fed = 0;
      for (const chunk of throughOneReadBuffer(cut(bytes, sizes))) {
        sink.chunk = chunk;
        splitter.push(chunk, sink, startOffset + fed);
        fed += chunk.length;
      }
      const tail = bytes.subarray(bytes.lastIndexOf(0x0a) + 1);
      assert.equal(splitter.readOffset - splitter.completeOffset, tail.length);
      assert.equal(splitter.pendingBytes, tail.length <= maxLineBytes ? tail.length : 0);
      // Its newline completes it as one line holding those bytes, or as overlong.
      const before = sink.events.length;
      const newline = Buffer.from("\n");
      sink.chunk = newline;
      splitter.push(newline, sink, startOffset + bytes.length);
      const offsets = { startOffset: startOffset + bytes.length - tail.length, endOffset: startOffset + bytes.length + 1 };
      assert.deepEqual(sink.events.slice(before), [
        tail.length > maxLineBytes ? { kind: "overlong", ...offsets } : { kind: "line", content: tail.toString("hex"), ...offsets },
      ]);
      assert.equal(splitter.pendingBytes, 0);
    }),
    propertyRuns(1000),
  );
});

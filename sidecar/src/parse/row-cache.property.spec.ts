import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { RowCache } from "./row-cache";
import { parseRow } from "./row-parser";
import { anyBytes, hostileBytes } from "../testing/hostile-bytes";
import { propertyRuns } from "../testing/property-runs";

/** One step against the cache: look a line up (as a view inside a larger buffer), or clear it. */
type Step = { kind: "idOf"; line: Buffer; before: Buffer; after: Buffer } | { kind: "clear" };

/**
 * Lines the cache must tell apart from their look-alikes: two whose hashes
 * (see RowCache.idOf) are equal, and two that would parse otherwise as a
 * file's first line (the cache never parses a line as the first).
 */
const LOOK_ALIKES = ["haqtlpha,j", "ht7llola,j", "host,job_name", "\ufeffh1,job"].map((text) => Buffer.from(text, "utf8"));

/** Lines drawn from a small pool, so that most repeat, with arbitrary ones among them. */
function stepsArbitrary(): fc.Arbitrary<Step[]> {
  const line = fc.oneof(
    { weight: 4, arbitrary: hostileBytes(6).map((bytes) => Buffer.from(bytes.filter((byte) => byte !== 0x0a))) },
    { weight: 1, arbitrary: fc.constantFrom(...LOOK_ALIKES) },
  );
  return fc.array(line, { minLength: 1, maxLength: 12 }).chain((pool) => {
    const lookup = fc.record({
      kind: fc.constant("idOf" as const),
      line: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: line }),
      before: anyBytes(4),
      after: anyBytes(4),
    });
    return fc.array(fc.oneof({ weight: 12, arbitrary: lookup }, { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) }), {
      maxLength: 120,
    });
  });
}

const boundsArbitrary = fc.record({
  maxEntries: fc.integer({ min: 1, max: 16 }),
  arenaBytes: fc.integer({ min: 0, max: 256 }),
});

test("the row cache stays within its bounds, answers -1 exactly when a new line has no room, and agrees with the parser", () => {
  let sawFull = false;
  fc.assert(
    fc.property(boundsArbitrary, stepsArbitrary(), ({ maxEntries, arenaBytes }, steps) => {
      const cache = new RowCache(maxEntries, arenaBytes);
      // The model: each remembered line (as hex) with its id, and the bytes they take.
      const model = new Map<string, number>();
      let modelBytes = 0;
      for (const step of steps) {
        if (step.kind === "clear") {
          cache.clear();
          model.clear();
          modelBytes = 0;
        } else {
          const { line, before, after } = step;
          const chunk = Buffer.concat([before, line, after]);
          const id = cache.idOf(chunk, before.length, before.length + line.length);
          const key = line.toString("hex");
          const known = model.get(key);
          if (known !== undefined) {
            assert.equal(id, known, `a remembered line keeps its id: ${key}`);
          } else if (model.size === maxEntries || modelBytes + line.length > arenaBytes) {
            sawFull = true;
            assert.equal(id, -1, `no room for ${key}: ${model.size} of ${maxEntries} entries, ${modelBytes} + ${line.length} of ${arenaBytes} bytes`);
          } else {
            assert.ok(id >= 0 && id < maxEntries, `id ${id} of a new line is outside [0, ${maxEntries})`);
            assert.ok(![...model.values()].includes(id), `id ${id} given to two lines`);
            model.set(key, id);
            modelBytes += line.length;
          }
          if (id >= 0) assert.deepEqual(cache.row(id), parseRow(line, false), `row of ${key}`);
          // Scribbling over the caller's buffer must not change what the cache remembered.
          chunk.fill(0x2c);
        }
        assert.equal(cache.size, model.size);
        assert.ok(cache.size <= maxEntries, `size ${cache.size} > maxEntries ${maxEntries}`);
      }
      // Every remembered line still has its id and its parse.
      for (const [key, id] of model) {
        const line = Buffer.from(key, "hex");
        assert.equal(cache.idOf(line, 0, line.length), id);
        assert.deepEqual(cache.row(id), parseRow(line, false));
      }
    }),
    propertyRuns(1000),
  );
  assert.ok(sawFull, "no run filled the cache");
});

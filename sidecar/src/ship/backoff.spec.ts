import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Backoff } from "./backoff";

// Just below 1: floor(ALMOST_ONE * ceiling) is ceiling - 1 for any ceiling up to 2^20.
const ALMOST_ONE = 1 - 2 ** -20;

test("delays double from the initial delay up to the cap, and stay under it", () => {
  const backoff = new Backoff(100, 5_000, () => ALMOST_ONE);
  const delays = Array.from({ length: 12 }, () => backoff.next());
  assert.deepEqual(delays, [99, 199, 399, 799, 1_599, 3_199, 4_999, 4_999, 4_999, 4_999, 4_999, 4_999]);
});

test("the cap holds however many attempts fail", () => {
  const backoff = new Backoff(200, 10_000, () => ALMOST_ONE);
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const delay = backoff.next();
    assert.ok(Number.isInteger(delay), `attempt ${attempt}: ${delay}`);
    assert.ok(delay >= 0 && delay < 10_000, `attempt ${attempt}: ${delay}`);
  }
  assert.equal(backoff.next(), 9_999);
});

test("reset() starts over from the initial delay", () => {
  const backoff = new Backoff(50, 1_000, () => ALMOST_ONE);
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [49, 99, 199]);
  backoff.reset();
  assert.deepEqual([backoff.next(), backoff.next()], [49, 99]);
});

test("the jitter scales the ceiling: 0 gives 0, one half gives half", () => {
  const zero = new Backoff(100, 5_000, () => 0);
  assert.deepEqual([zero.next(), zero.next(), zero.next()], [0, 0, 0]);
  const half = new Backoff(100, 5_000, () => 0.5);
  assert.deepEqual([half.next(), half.next(), half.next()], [50, 100, 200]);
});

test("the default random jitter stays within the ceiling", () => {
  const backoff = new Backoff(10, 80);
  const ceilings = [10, 20, 40, 80, 80, 80];
  for (const ceiling of ceilings) {
    const delay = backoff.next();
    assert.ok(Number.isInteger(delay) && delay >= 0 && delay < ceiling, `${delay} not in [0, ${ceiling})`);
  }
});

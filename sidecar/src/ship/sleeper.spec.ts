import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { test } from "node:test";
import { Sleeper } from "./sleeper";

/** Fails the test if `promise` has not settled by the time a guard timer fires. */
async function settlesSoon(promise: Promise<unknown>, what: string): Promise<void> {
  let guard: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error(`${what} did not resolve`)), 5_000);
  });
  try {
    await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(guard);
  }
}

test("a sleep lasts its time when nothing aborts", async () => {
  const controller = new AbortController();
  const sleeper = new Sleeper(controller.signal);
  const started = performance.now();
  await settlesSoon(sleeper.sleep(50), "a 50 ms sleep");
  assert.ok(performance.now() - started >= 45);
  assert.equal(controller.signal.aborted, false);
});

test("an abort wakes every sleep at once, and unhooks the sleeper", async () => {
  const controller = new AbortController();
  const sleeper = new Sleeper(controller.signal);
  let resolved = 0;
  const sleeps = [sleeper.sleep(3_600_000), sleeper.sleep(3_600_000)].map((sleep) => sleep.then(() => resolved++));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(resolved, 0, "still sleeping before the abort");
  controller.abort();
  await settlesSoon(Promise.all(sleeps), "sleeps after abort");
  assert.equal(resolved, 2);
  assert.equal(getEventListeners(controller.signal, "abort").length, 0);
});

test("a sleep on an aborted signal resolves at once", async () => {
  const sleeper = new Sleeper(AbortSignal.abort());
  await settlesSoon(sleeper.sleep(3_600_000), "sleep on an aborted signal");
});

test("the signal has one listener however many sleeps are taken", async () => {
  const controller = new AbortController();
  const sleeper = new Sleeper(controller.signal);
  for (let sleep = 0; sleep < 5; sleep++) await settlesSoon(sleeper.sleep(1), "a 1 ms sleep");
  const pending = [sleeper.sleep(3_600_000), sleeper.sleep(3_600_000)];
  assert.equal(getEventListeners(controller.signal, "abort").length, 1);
  controller.abort();
  await settlesSoon(Promise.all(pending), "sleeps after abort");
});

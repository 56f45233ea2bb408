import assert from "node:assert/strict";
import { test } from "node:test";
import { Sleeper } from "./sleeper";

test("a sleep lasts its time when nothing aborts", async () => {
  const sleeper = new Sleeper(new AbortController().signal);
  const started = performance.now();
  await sleeper.sleep(50);
  assert.ok(performance.now() - started >= 45);
});

test("an abort wakes every sleep at once, and later sleeps return at once", async () => {
  const controller = new AbortController();
  const sleeper = new Sleeper(controller.signal);
  const started = performance.now();
  const sleeps = [sleeper.sleep(60_000), sleeper.sleep(60_000)];
  setTimeout(() => controller.abort(), 20);
  await Promise.all(sleeps);
  await sleeper.sleep(60_000);
  assert.ok(performance.now() - started < 5_000);
});

test("the signal gets one listener however many sleeps are taken", async () => {
  const controller = new AbortController();
  let added = 0;
  const addEventListener = controller.signal.addEventListener.bind(controller.signal);
  controller.signal.addEventListener = ((...args: Parameters<AbortSignal["addEventListener"]>) => {
    added++;
    addEventListener(...args);
  }) as AbortSignal["addEventListener"];
  const sleeper = new Sleeper(controller.signal);
  for (let sleep = 0; sleep < 5; sleep++) await sleeper.sleep(1);
  assert.equal(added, 1);
});

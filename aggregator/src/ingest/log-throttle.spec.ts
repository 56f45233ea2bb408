import { test } from "node:test";
import * as assert from "node:assert/strict";
import { LogThrottle } from "./log-throttle";

test("lets one line per key through each interval and says how many were held back", () => {
  let nowMs = 0;
  const throttle = new LogThrottle(1_000, () => nowMs);
  assert.deepEqual(throttle.take("wrong_token"), { log: true, suppressed: 0 });
  assert.deepEqual(throttle.take("wrong_token"), { log: false });
  assert.deepEqual(throttle.take("missing_token"), { log: true, suppressed: 0 }, "keys are throttled apart");
  nowMs = 999;
  assert.deepEqual(throttle.take("wrong_token"), { log: false });
  nowMs = 1_000;
  assert.deepEqual(throttle.take("wrong_token"), { log: true, suppressed: 2 });
  assert.deepEqual(throttle.take("wrong_token"), { log: false });
  nowMs = 5_000;
  assert.deepEqual(throttle.take("wrong_token"), { log: true, suppressed: 1 });
});

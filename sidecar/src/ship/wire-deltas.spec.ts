import { test } from "node:test";
import * as assert from "node:assert/strict";
import { DEFAULT_SPEC } from "@logtally/proto";
import { wireDeltas, wireSpec } from "./wire-deltas";

test("the default spec keeps the wire of sidecars before specs: no Hello.spec, deltas by host and job_name", () => {
  assert.equal(wireSpec(DEFAULT_SPEC), undefined);
  assert.deepEqual(wireDeltas([{ labels: ["web-1", "backup"], count: 3 }], DEFAULT_SPEC), [{ host: "web-1", jobName: "backup", count: 3 }]);
});

test("any other spec travels in the Hello, and deltas carry labels only", () => {
  const spec = { metric: "http_requests", labelNames: ["method", "status"] };
  assert.deepEqual(wireSpec(spec), { metric: "http_requests", labelNames: ["method", "status"] });
  assert.deepEqual(wireDeltas([{ labels: ["GET", "200"], count: 2 }], spec), [{ labels: ["GET", "200"], count: 2 }]);
  const renamed = { metric: "log_host_job_count_by_pod", labelNames: ["host", "job_name"] };
  assert.deepEqual(wireDeltas([{ labels: ["a", "b"], count: 1 }], renamed), [{ labels: ["a", "b"], count: 1 }]);
});

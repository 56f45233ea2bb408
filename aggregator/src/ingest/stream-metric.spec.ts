import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { Hello__Output } from "@logtally/proto";
import { sameStreamMetric, seriesDeltas, streamMetricOf } from "./stream-metric";

function hello(spec: Hello__Output["spec"]): Hello__Output {
  return { sourceId: "pod-a", fileId: "1-aa", sidecarId: "car", supersedeGeneration: "", spec };
}

test("a Hello without a spec counts pairs of log_host_job_count; one with a spec is checked", () => {
  assert.deepEqual(streamMetricOf(hello(null)), { spec: undefined });
  assert.deepEqual(streamMetricOf(hello({ metric: "http_requests", labelNames: ["method"] })), {
    spec: { metric: "http_requests", labelNames: ["method"] },
  });
  assert.deepEqual(streamMetricOf(hello({ metric: "logtally_rows", labelNames: [] })), {
    problem: "counting spec refused: metric name logtally_rows starts with logtally_, which logtally's own metrics use",
  });
  assert.match((streamMetricOf(hello({ metric: "m", labelNames: ["a", "a"] })) as { problem: string }).problem, /label name a is given twice/);
});

test("a stream's later Hellos must count what its first did", () => {
  const pairs = { spec: undefined };
  const requests = { spec: { metric: "http_requests", labelNames: ["method"] } };
  assert.ok(sameStreamMetric(pairs, { spec: undefined }));
  assert.ok(sameStreamMetric(requests, { spec: { metric: "http_requests", labelNames: ["method"] } }));
  assert.ok(!sameStreamMetric(pairs, requests));
  assert.ok(!sameStreamMetric(requests, { spec: { metric: "http_requests", labelNames: ["status"] } }));
});

test("deltas become series of the stream's metric", () => {
  const deltas = [{ host: "web-1", jobName: "backup", count: 2, labels: [] }];
  assert.deepEqual(seriesDeltas(deltas, { spec: undefined }), [{ metric: "log_host_job_count", labels: ["web-1", "backup"], count: 2 }]);
  const labelled = [{ host: "", jobName: "", count: 5, labels: ["GET"] }];
  assert.deepEqual(seriesDeltas(labelled, { spec: { metric: "http_requests", labelNames: ["method"] } }), [
    { metric: "http_requests", labels: ["GET"], count: 5 },
  ]);
});

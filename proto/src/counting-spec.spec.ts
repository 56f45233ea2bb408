import { test } from "node:test";
import * as assert from "node:assert/strict";
import { checkCountingSpec, DEFAULT_SPEC, exposedName, isDefaultSpec, REJECT_REASONS } from "./index";

test("the default spec is valid, and is log_host_job_count{host, job_name} exposed under its own name", () => {
  assert.equal(checkCountingSpec(DEFAULT_SPEC), undefined);
  assert.ok(isDefaultSpec({ metric: "log_host_job_count", labelNames: ["host", "job_name"] }));
  assert.ok(!isDefaultSpec({ metric: "log_host_job_count", labelNames: ["job_name", "host"] }));
  assert.equal(exposedName("log_host_job_count"), "log_host_job_count");
  assert.equal(exposedName("http_requests"), "http_requests_total");
});

test("metric and label names follow Prometheus's rules; each refusal says what is wrong", () => {
  const problem = (metric: string, labelNames: string[]) => checkCountingSpec({ metric, labelNames });
  assert.equal(problem("http_requests", ["method", "status"]), undefined);
  assert.equal(problem("app:events", []), undefined, "no label: one series, every row");
  assert.match(problem("", ["a"]) ?? "", /metric name is empty/);
  assert.match(problem("9lives", ["a"]) ?? "", /"9lives" is not a Prometheus metric name/);
  assert.match(problem("http-requests", ["a"]) ?? "", /not a Prometheus metric name/);
  assert.match(problem("logtally_rows", ["a"]) ?? "", /starts with logtally_, which logtally's own metrics use/);
  assert.match(problem("http_requests_total", ["a"]) ?? "", /ends with _total: give it without, it is exposed as http_requests_total/);
  assert.match(problem("log_host_job_count", ["host"]) ?? "", /log_host_job_count is counted with the labels host, job_name/);
  assert.match(problem("m", ["le-vel"]) ?? "", /"le-vel" is not a Prometheus label name/);
  assert.match(problem("m", ["__name__"]) ?? "", /starts with __/);
  assert.match(problem("m", ["a", "b", "a"]) ?? "", /label name a is given twice/);
  assert.match(
    problem(
      "m",
      Array.from({ length: 17 }, (_, index) => `l${index}`),
    ) ?? "",
    /17 labels, more than the 16/,
  );
});

test("the reasons a row is rejected include a missing field and a line that is not JSON", () => {
  assert.ok(REJECT_REASONS.includes("missing_field"));
  assert.ok(REJECT_REASONS.includes("invalid_json"));
});

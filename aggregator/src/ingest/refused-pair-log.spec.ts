import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { Logger } from "@logtally/runtime";
import { RefusedPairLog } from "./refused-pair-log";
import { pairDelta } from "../testing/commit-batch";

/** A logger that keeps what is logged at warn: the only level RefusedPairLog uses. */
function recordingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = { warn: (fields: Record<string, unknown>, msg: string) => void lines.push({ ...fields, msg }) } as unknown as Logger;
  return { log, lines };
}

test("logs each refused pair once, and stops logging pairs one by one at its capacity", () => {
  const { log, lines } = recordingLogger();
  const refusedPairs = new RefusedPairLog(3, log, 2);
  refusedPairs.report("pod-a", [pairDelta("h1", "j", 2)]);
  refusedPairs.report("pod-b", [pairDelta("h1", "j", 1), pairDelta("h2", "j", 1)]);
  const pairLines = () => lines.filter((line) => line.msg === "series limit reached: rows of a new pair not counted");
  assert.deepEqual(
    pairLines().map(({ host, jobName, rows, sourceId, maxSeries }) => ({ host, jobName, rows, sourceId, maxSeries })),
    [
      { host: "h1", jobName: "j", rows: 2, sourceId: "pod-a", maxSeries: 3 },
      { host: "h2", jobName: "j", rows: 1, sourceId: "pod-b", maxSeries: 3 },
    ],
  );
  refusedPairs.report("pod-a", [pairDelta("h3", "j", 1)]);
  refusedPairs.report("pod-a", [pairDelta("h4", "j", 1), pairDelta("h1", "j", 1)]);
  assert.equal(pairLines().length, 2, "no pair beyond the capacity is logged");
  assert.equal(lines.filter((line) => line.msg === "series limit: further refused pairs are counted, not logged").length, 1);
});

test("a series of another metric is logged by its metric and label values", () => {
  const { log, lines } = recordingLogger();
  new RefusedPairLog(3, log).report("pod-a", [{ metric: "http_requests", labels: ["GET", "500"], count: 4 }]);
  assert.deepEqual(lines, [
    {
      metric: "http_requests",
      labels: ["GET", "500"],
      rows: 4,
      sourceId: "pod-a",
      maxSeries: 3,
      msg: "series limit reached: rows of a new series not counted",
    },
  ]);
});

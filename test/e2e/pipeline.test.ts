import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LogWriter } from "../support/log-writer";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { PrometheusServer } from "../support/prometheus";
import { aggregatorCounts, QueryProbe, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";

/**
 * The whole pipeline with real processes: an aggregator, two sidecars on
 * their own files (two application pods), and two sidecars with one source id
 * on one shared file (two replicas on a ReadWriteMany volume). Counts on the
 * aggregator's /metrics and in a real Prometheus must equal what was written.
 */
describe("pipeline: sidecars to aggregator to Prometheus", () => {
  let dir: string;
  let aggregator: AggregatorProcess;
  let prometheus: PrometheusServer | undefined;
  const sidecars: RunningProcess[] = [];
  const writers: Record<string, LogWriter> = {};

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-pipeline-"));
    aggregator = await startAggregator(path.join(dir, "state"));
    for (const [sourceId, seed] of [
      ["pod-a", 1],
      ["pod-b", 2],
      ["shared", 3],
    ] as const) {
      writers[sourceId] = new LogWriter(path.join(dir, `${sourceId}.csv`), seed);
    }
    writers["pod-a"]!.append(500, { header: true });
    for (const [name, sourceId] of [
      ["sidecar-a", "pod-a"],
      ["sidecar-b", "pod-b"],
      ["sidecar-shared-1", "shared"],
      ["sidecar-shared-2", "shared"],
    ] as const) {
      sidecars.push(startSidecar(name, { file: writers[sourceId]!.file, aggregator: aggregator.grpcAddress, sourceId }));
    }
    // Rows keep arriving while the sidecars run, in bursts.
    for (let burst = 0; burst < 10; burst++) {
      for (const writer of Object.values(writers)) writer.append(300);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitUntilSettled(aggregator.grpcAddress, Object.fromEntries(Object.entries(writers).map(([source, writer]) => [source, writer.file])));
  });

  after(async () => {
    await prometheus?.stop();
    await Promise.all(sidecars.map((sidecar) => sidecar.stop("SIGKILL")));
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function truth(): Map<string, number> {
    const total = new Map<string, number>();
    for (const writer of Object.values(writers)) {
      for (const [key, count] of writer.truth) total.set(key, (total.get(key) ?? 0) + count);
    }
    return total;
  }

  it("counts every row exactly once on /metrics, the shared file included", async () => {
    const counts = await aggregatorCounts(aggregator.metricsUrl);
    assert.deepEqual(sorted(counts), sorted(truth()));
    const rows = Object.values(writers).reduce((sum, writer) => sum + writer.rowsWritten, 0);
    assert.equal(
      [...counts.values()].reduce((a, b) => a + b, 0),
      rows,
    );
  });

  it("answers Query with the same counts and one source per source id", async () => {
    const probe = new QueryProbe(aggregator.grpcAddress);
    try {
      const counts = new Map((await probe.getCounts()).map((pair) => [`${pair.host}|${pair.jobName}`, Number(pair.count)]));
      assert.deepEqual(sorted(counts), sorted(truth()));
      const sources = await probe.listSources();
      assert.deepEqual(
        sources.map((source) => source.sourceId),
        ["pod-a", "pod-b", "shared"],
      );
      const shared = sources.find((source) => source.sourceId === "shared")!;
      assert.equal(Number(shared.connectedSidecars), 2);
      const filtered = await probe.getCounts({ host: "server1" });
      assert.ok(filtered.length > 0 && filtered.every((pair) => pair.host === "server1"));
    } finally {
      probe.close();
    }
  });

  it("serves metrics that promtool accepts, but for the drop-in name it keeps", async () => {
    const body = await (await fetch(aggregator.metricsUrl)).text();
    assert.match(body, /# HELP log_host_job_count Count of occurrences of host and job name in log\n# TYPE log_host_job_count gauge/);
    // log_host_job_count keeps the exporter's name so existing queries work;
    // promtool's only objection to it is the _count suffix on a gauge.
    const ours = body
      .split("\n")
      .filter((line) => !/^(# (HELP|TYPE) )?log_host_job_count[ {]/.test(line))
      .join("\n");
    assert.ok(ours.includes("logtally_batches_total"));
    execFileSync("promtool", ["check", "metrics"], { input: ours });
    const whole = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
    const problems = `${whole.stdout}${whole.stderr}`.trim().split("\n");
    assert.deepEqual(problems, ['log_host_job_count non-histogram and non-summary metrics should not have "_count" suffix']);
  });

  it("reads the same counts back from a real Prometheus scraping the aggregator", async () => {
    prometheus = await PrometheusServer.start(dir, `127.0.0.1:${aggregator.metricsPort}`);
    const expected = sorted(truth());
    let seen: Array<[string, number]> = [];
    await waitFor(
      async () => {
        const result = await prometheus!.query("log_host_job_count");
        seen = sorted(new Map(result.map((sample) => [`${sample.metric.host}|${sample.metric.job_name}`, Number(sample.value[1])])));
        return JSON.stringify(seen) === JSON.stringify(expected) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, describe: () => `Prometheus to show the truth (saw ${JSON.stringify(seen)})\n${prometheus!.log()}` },
    );
    const targets = await prometheus.query('up{job="logtally-aggregator"}');
    assert.equal(targets.length, 1);
    assert.equal(targets[0]!.value[1], "1");
  });
});

import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, type RunningProcess } from "@logtally/testing";
import { APP_EVENTS_LABELS, APP_EVENTS_SPEC, JsonLogWriter } from "../support/json-log-writer";
import { LogWriter } from "../support/log-writer";
import { metricValue, scrape, seriesOf } from "../support/metrics";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import { PrometheusServer } from "../support/prometheus";
import { QueryProbe, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";

/**
 * Two metrics side by side on one aggregator: log_host_job_count from a pod
 * whose sidecar runs with the defaults, and app_events{level, service,
 * namespace, status} from a pod writing Kubernetes JSON lines, its stderr
 * lines filtered out. Both must equal the ground truth on /metrics and in a
 * real Prometheus; a sidecar that counts app_events with other labels is refused.
 */
describe("counting specs: the default metric and a JSON-lines metric on one aggregator", () => {
  let dir: string;
  let aggregator: AggregatorProcess;
  let prometheus: PrometheusServer | undefined;
  let csv: LogWriter;
  let json: JsonLogWriter;
  let jsonMetricsPort: number;
  const sidecars: RunningProcess[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-specs-"));
    aggregator = await startAggregator(path.join(dir, "state"));
    csv = new LogWriter(path.join(dir, "pod-a.csv"), 11);
    json = new JsonLogWriter(path.join(dir, "pod-b.log"), 12);
    csv.append(400, { header: true });
    json.append(400);
    jsonMetricsPort = await freePort();
    sidecars.push(
      startSidecar("sidecar-csv", { file: csv.file, aggregator: aggregator.grpcAddress, sourceId: "pod-a" }),
      startSidecar("sidecar-json", {
        file: json.file,
        aggregator: aggregator.grpcAddress,
        sourceId: "pod-b",
        extraArgs: [...APP_EVENTS_SPEC, "--metrics-listen", `127.0.0.1:${jsonMetricsPort}`],
      }),
    );
    for (let burst = 0; burst < 10; burst++) {
      csv.append(200);
      json.append(300);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitUntilSettled(aggregator.grpcAddress, { "pod-a": csv.file, "pod-b": json.file });
  });

  after(async () => {
    await prometheus?.stop();
    await Promise.all(sidecars.map((sidecar) => sidecar.stop("SIGKILL")));
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("counts both metrics exactly on /metrics, the new one as a counter", async () => {
    const samples = await scrape(aggregator.metricsUrl);
    assert.deepEqual(sorted(seriesOf(samples, "log_host_job_count", ["host", "job_name"])), sorted(csv.truth));
    assert.deepEqual(sorted(seriesOf(samples, "app_events_total", APP_EVENTS_LABELS)), sorted(json.truth));
    const body = await (await fetch(aggregator.metricsUrl)).text();
    assert.match(body, /# TYPE log_host_job_count gauge\n/);
    assert.match(body, /# TYPE app_events_total counter\n/);
    assert.equal(metricValue(samples, "logtally_rows_rejected_total", { reason: "invalid_json" }), json.rejected.invalid_json);
    assert.equal(metricValue(samples, "logtally_rows_rejected_total", { reason: "missing_field" }), json.rejected.missing_field);
  });

  it("answers Query by metric and by any label, and lists both metrics", async () => {
    const probe = new QueryProbe(aggregator.grpcAddress);
    try {
      const errors = await probe.getSeries({ metric: "app_events", labels: { level: "error", namespace: "shop" } });
      const expected = [...json.truth].filter(([key]) => key.startsWith("error|") && key.split("|")[2] === "shop");
      assert.ok(expected.length > 0);
      assert.deepEqual(
        sorted(new Map(errors.map((one) => [APP_EVENTS_LABELS.map((label) => one.labels[label]).join("|"), Number(one.count)]))),
        sorted(new Map(expected)),
      );
      assert.ok(errors.every((one) => one.metric === "app_events"));
      const pairs = await probe.getCounts({});
      assert.deepEqual(
        sorted(new Map(pairs.map((pair) => [`${pair.host}|${pair.jobName}`, Number(pair.count)]))),
        sorted(csv.truth),
        "an old client's GetCounts is unchanged",
      );
      const metrics = await probe.listMetrics();
      assert.deepEqual(
        metrics.map(({ name, labelNames, exposedAs, type, series, rows }) => ({
          name,
          labelNames,
          exposedAs,
          type,
          series: Number(series),
          rows: Number(rows),
        })),
        [
          {
            name: "app_events",
            labelNames: [...APP_EVENTS_LABELS],
            exposedAs: "app_events_total",
            type: "counter",
            series: json.truth.size,
            rows: json.counted,
          },
          {
            name: "log_host_job_count",
            labelNames: ["host", "job_name"],
            exposedAs: "log_host_job_count",
            type: "gauge",
            series: csv.truth.size,
            rows: csv.rowsWritten,
          },
        ],
      );
    } finally {
      probe.close();
    }
  });

  it("reports the lines the filter left out on the sidecar, neither counted nor rejected", async () => {
    const samples = await scrape(`http://127.0.0.1:${jsonMetricsPort}/metrics`);
    assert.equal(metricValue(samples, "logtally_sidecar_rows_filtered_total"), json.filtered);
  });

  it("refuses a sidecar that counts the same metric with other labels, and it stops saying why", async () => {
    const other = new JsonLogWriter(path.join(dir, "pod-c.log"), 13);
    other.append(10);
    const conflicting = startSidecar("sidecar-conflict", {
      file: other.file,
      aggregator: aggregator.grpcAddress,
      sourceId: "pod-c",
      extraArgs: ["--format", "jsonl", "--metric", "app_events", "--label", "level=.level"],
    });
    sidecars.push(conflicting);
    const { code } = await conflicting.exited;
    assert.notEqual(code, 0);
    assert.match(conflicting.dump(), /app_events is counted with the labels \(level, service, namespace, status\)/);
    const samples = await scrape(aggregator.metricsUrl);
    assert.deepEqual(sorted(seriesOf(samples, "app_events_total", APP_EVENTS_LABELS)), sorted(json.truth));
  });

  it("counts the README's nginx-style example: columns by header name, the health checks filtered out", async () => {
    const file = path.join(dir, "access.csv");
    fs.writeFileSync(
      file,
      "time,remote_addr,method,path,status,bytes\n" +
        "2026-12-07T10:00:01Z,10.0.0.7,GET,/cart,200,5120\n" +
        "2026-12-07T10:00:01Z,10.0.0.9,POST,/checkout,503,0\n" +
        "2026-12-07T10:00:02Z,10.0.0.7,GET,/healthz,200,2\n",
    );
    sidecars.push(
      startSidecar("sidecar-nginx", {
        file,
        aggregator: aggregator.grpcAddress,
        sourceId: "pod-nginx",
        extraArgs: ["--metric", "http_requests", "--label", "method=method", "--label", "status=status", "--where", "path=~/(?!healthz).*"],
      }),
    );
    await waitUntilSettled(aggregator.grpcAddress, { "pod-nginx": file });
    const samples = await scrape(aggregator.metricsUrl);
    assert.deepEqual(sorted(seriesOf(samples, "http_requests_total", ["method", "status"])), [
      ["GET|200", 1],
      ["POST|503", 1],
    ]);
  });

  it("reads the same counts back from a real Prometheus scraping the aggregator", async () => {
    prometheus = await PrometheusServer.start(dir, `127.0.0.1:${aggregator.metricsPort}`);
    const expected = JSON.stringify([sorted(csv.truth), sorted(json.truth)]);
    let seen = "";
    await waitFor(
      async () => {
        const pairs = await prometheus!.query("log_host_job_count");
        const events = await prometheus!.query("app_events_total");
        seen = JSON.stringify([
          sorted(new Map(pairs.map((sample) => [`${sample.metric.host}|${sample.metric.job_name}`, Number(sample.value[1])]))),
          sorted(new Map(events.map((sample) => [APP_EVENTS_LABELS.map((label) => sample.metric[label]).join("|"), Number(sample.value[1])]))),
        ]);
        return seen === expected ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, describe: () => `Prometheus to show the truth (saw ${seen})\n${prometheus!.log()}` },
    );
  });
});

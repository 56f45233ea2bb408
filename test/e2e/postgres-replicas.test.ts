import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AGGREGATOR_MAIN, postgresUnavailable, runToExit, TestPostgres, type RunningProcess } from "@logtally/testing";
import { healthCheck } from "../support/health";
import { LogWriter } from "../support/log-writer";
import { countsOf, metricValue, scrape } from "../support/metrics";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import { PrometheusServer } from "../support/prometheus";
import { aggregatorCounts, sorted, waitUntilSettled } from "../support/query";
import { RoundRobinProxy } from "../support/round-robin-proxy";
import { waitFor } from "../support/wait";

const PASSWORD = "replica-s3cret";

/**
 * Three aggregator replicas on one PostgreSQL database (two while one is
 * down) behind a round-robin proxy (a Service), sidecars spread over them by
 * it, one file shared by two sidecars, a replica killed and restarted while
 * rows flow, and a real Prometheus scraping through the proxy: every
 * replica, and Prometheus, show exactly the rows written.
 */
describe("aggregator replicas on PostgreSQL", { skip: postgresUnavailable() }, () => {
  let dir: string;
  let postgres: TestPostgres;
  let storeFile: string;
  const aggregators: AggregatorProcess[] = [];
  const sidecars: RunningProcess[] = [];
  let grpcService: RoundRobinProxy;
  let metricsService: RoundRobinProxy;
  let prometheus: PrometheusServer | undefined;

  async function replica(index: number, ports: { grpcPort?: number; metricsPort?: number } = {}): Promise<AggregatorProcess> {
    const started = await startAggregator(path.join(dir, `unused-state-${index}`), {
      ...ports,
      name: `replica-${index}-${aggregators.length}`,
      extraArgs: ["--store-file", storeFile],
    });
    aggregators.push(started);
    return started;
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-replicas-"));
    postgres = await TestPostgres.start({ password: PASSWORD });
    const url = new URL(postgres.url());
    url.password = PASSWORD;
    storeFile = path.join(dir, "store-url");
    fs.writeFileSync(storeFile, `${url}\n`, { mode: 0o600 });
  });

  after(async () => {
    await prometheus?.stop();
    await Promise.all([...sidecars, ...aggregators].map((running) => running.stop("SIGKILL")));
    await grpcService?.stop();
    await metricsService?.stop();
    await postgres?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("counts every row once through a replica's kill, and Prometheus sees the truth without a reset", async () => {
    const [first, second, third] = [await replica(1), await replica(2), await replica(3)];
    const ports = { grpcPort: first.grpcPort, metricsPort: first.metricsPort };
    grpcService = await RoundRobinProxy.start([first, second, third].map((replica) => replica.grpcAddress));
    metricsService = await RoundRobinProxy.start([first, second, third].map((replica) => `127.0.0.1:${replica.metricsPort}`));
    prometheus = await PrometheusServer.start(dir, metricsService.address);

    const writers = {
      "pod-a": new LogWriter(path.join(dir, "pod-a.csv"), 51, ["a-1", "a-2"]),
      "pod-b": new LogWriter(path.join(dir, "pod-b.csv"), 52, ["b-1", "b-2"]),
      shared: new LogWriter(path.join(dir, "shared.csv"), 53, ["s-1", "s-2"]),
    };
    const files = Object.fromEntries(Object.entries(writers).map(([source, writer]) => [source, writer.file]));
    const start = (name: string, source: keyof typeof writers) =>
      sidecars.push(
        startSidecar(name, {
          file: writers[source].file,
          aggregator: grpcService.address,
          sourceId: source,
          extraArgs: ["--ack-timeout-ms", "2000"],
        }),
      );
    start("sidecar-a", "pod-a");
    start("sidecar-b", "pod-b");
    start("sidecar-shared-1", "shared");
    start("sidecar-shared-2", "shared");
    const write = (rounds: number) => {
      for (let round = 0; round < rounds; round++) for (const writer of Object.values(writers)) writer.append(300);
    };
    write(5);
    await waitUntilSettled(first.grpcAddress, files, 60_000);

    // The replica some sidecars talk to dies; they reconnect through the Service to the other.
    write(5);
    await first.stop("SIGKILL");
    write(5);
    // Two replicas serve meanwhile.
    await waitUntilSettled(second.grpcAddress, files, 60_000);
    const restarted = await replica(1, ports);
    write(5);
    await waitUntilSettled(restarted.grpcAddress, files, 60_000);
    await waitUntilSettled(second.grpcAddress, files, 60_000);

    const truth = new Map<string, number>();
    for (const writer of Object.values(writers)) for (const [key, count] of writer.truth) truth.set(key, (truth.get(key) ?? 0) + count);
    for (const aggregator of [restarted, second, third]) {
      assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(truth), `${aggregator.name} shows every row once`);
    }
    for (const aggregator of aggregators) {
      assert.ok(!aggregator.dump().includes(PASSWORD), `${aggregator.name} logged the database password`);
    }

    // Prometheus scrapes the Service, one target whichever replica answers: its sum is the truth, and nothing went backwards.
    const total = [...truth.values()].reduce((sum, count) => sum + count, 0);
    await waitFor(
      async () => {
        const [sum] = await prometheus!.query("sum(log_host_job_count)");
        return Number(sum?.value[1]) === total ? true : undefined;
      },
      { timeoutMs: 30_000, describe: () => `Prometheus to see ${total} rows\n${prometheus!.log()}` },
    );
    const perPair = await prometheus.query("sum by (host, job_name) (log_host_job_count)");
    assert.deepEqual(sorted(new Map(perPair.map(({ metric, value }) => [`${metric.host}|${metric.job_name}`, Number(value[1])]))), sorted(truth));
    const resets = await prometheus.query("sum(resets(log_host_job_count[10m]))");
    assert.equal(Number(resets[0]?.value[1] ?? 0), 0, "no counter went backwards");
    // Through the kill, at most one scrape in a row failed: no gap longer than one interval.
    const [scrapes] = await prometheus.query("count_over_time(up[10m])");
    const [answered] = await prometheus.query("sum_over_time(up[10m])");
    const failed = Number(scrapes?.value[1]) - Number(answered?.value[1]);
    assert.ok(failed <= 1, `${failed} scrapes failed`);
    const [longestGap] = await prometheus.query("max_over_time((timestamp(up) - timestamp(up offset 1s))[10m:1s])");
    assert.ok(Number(longestGap?.value[1] ?? 0) <= 2.5, `a gap of ${longestGap?.value[1]} s between scrapes`);
  });

  it("is not ready while the database is down, says why, and counts every row once it is back", async () => {
    const [live] = aggregators.filter((running) => running.child.exitCode === null && running.child.signalCode === null);
    const writer = new LogWriter(path.join(dir, "through-restart.csv"), 61, ["r-1", "r-2"]);
    writer.append(100);
    const sidecar = startSidecar("sidecar-through-restart", { file: writer.file, aggregator: grpcService.address, sourceId: "through-restart" });
    sidecars.push(sidecar);
    await waitUntilSettled(live!.grpcAddress, { "through-restart": writer.file }, 60_000);
    const readyz = async () => (await fetch(live!.metricsUrl.replace(/\/metrics$/, "/readyz"))).status;

    await postgres.stop("immediate");
    try {
      for (let burst = 0; burst < 5; burst++) writer.append(200);
      await waitFor(async () => ((await readyz()) === 503 ? true : undefined), {
        timeoutMs: 30_000,
        describe: () => `/readyz to say 503 with the database down\n${live!.dump()}`,
      });
      await waitFor(
        () => (sidecar.logs.some((line) => String(line.msg).startsWith("aggregator cannot count now: state database is unreachable")) ? true : undefined),
        { timeoutMs: 30_000, describe: () => `the sidecar to log the aggregator's reason\n${sidecar.dump()}` },
      );
      assert.equal(await healthCheck(live!.grpcAddress, "logtally.v1.Ingest"), "NOT_SERVING");
      assert.equal(await healthCheck(live!.grpcAddress, ""), "SERVING", "alive: a liveness probe must not restart it");
      // Still scraped, with the counts last seen and the reason.
      const samples = await scrape(live!.metricsUrl);
      assert.equal(metricValue(samples, "logtally_state_writable", { condition: "unreachable" }), 0);
      assert.ok(countsOf(samples).size > 0, "the counts last seen are still served");
    } finally {
      await postgres.restart();
    }
    await waitFor(async () => ((await readyz()) === 200 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `/readyz to say 200 once the database is back\n${live!.dump()}`,
    });
    await waitUntilSettled(live!.grpcAddress, { "through-restart": writer.file }, 90_000);
    const counted = await aggregatorCounts(live!.metricsUrl);
    for (const [key, count] of writer.truth) assert.equal(counted.get(key), count, `${key} counted once`);
  });

  it("migrate-state moves a SQLite aggregator's state to PostgreSQL, and counting goes on from it without a row twice", async () => {
    const stateDir = path.join(dir, "sqlite-state");
    const sqlite = await startAggregator(stateDir, { name: "sqlite-aggregator" });
    aggregators.push(sqlite);
    const writer = new LogWriter(path.join(dir, "moved.csv"), 71, ["m-1", "m-2"]);
    writer.append(500);
    const sidecar = startSidecar("sidecar-moved", { file: writer.file, aggregator: sqlite.grpcAddress, sourceId: "moved" });
    sidecars.push(sidecar);
    await waitUntilSettled(sqlite.grpcAddress, { moved: writer.file }, 60_000);
    const ports = { grpcPort: sqlite.grpcPort, metricsPort: sqlite.metricsPort };
    assert.equal((await sqlite.stop("SIGTERM")).code, 0, sqlite.dump());
    writer.append(500);

    await postgres.createDatabase("moved");
    const target = new URL(postgres.url("moved"));
    target.password = PASSWORD;
    const targetFile = path.join(dir, "moved-url");
    fs.writeFileSync(targetFile, `${target}\n`, { mode: 0o600 });
    const migrate = (args: string[]) => runToExit(AGGREGATOR_MAIN, ["migrate-state", "--from", stateDir, ...args]);
    const copied = await migrate(["--to-file", targetFile]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stderr, /"series":8,"rows":500,.*"state copied: start the aggregators with --store on the PostgreSQL database"/);
    assert.ok(!copied.stderr.includes(PASSWORD));
    const again = await migrate(["--to-file", targetFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds a logtally state/);

    // The same address, now a replica on PostgreSQL: the sidecar resumes from the copied offset.
    const moved = await startAggregator(path.join(dir, "unused-moved"), { ...ports, name: "moved-replica", extraArgs: ["--store-file", targetFile] });
    aggregators.push(moved);
    await waitUntilSettled(moved.grpcAddress, { moved: writer.file }, 60_000);
    const counted = await aggregatorCounts(moved.metricsUrl);
    assert.deepEqual(sorted(counted), sorted(writer.truth));
  });
});

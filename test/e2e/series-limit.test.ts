import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { scrape, metricValue, type Sample } from "../support/metrics";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { aggregatorCounts, sorted, waitUntilSettled } from "../support/query";

const MAX_SERIES = 3;

/** The pairs that fit, and those that come once the limit is reached. */
const EARLY_PAIRS = ["server1|backup", "server2|cron", "server3|deploy"];
const LATE_PAIRS = ["server4|backup", "server5|cron"];

/**
 * Rows appended to the log, with what the aggregator must make of them: the
 * early pairs counted, the late ones rejected as series_limit.
 */
class SeriesLimitedLog {
  readonly counted = new Map<string, number>();
  refusedRows = 0;

  constructor(readonly file: string) {
    fs.writeFileSync(file, "host,job_name\n");
  }

  append(rows: Record<string, number>): void {
    let text = "";
    for (const [pair, count] of Object.entries(rows)) {
      text += `${pair.replace("|", ",")}\n`.repeat(count);
      if (EARLY_PAIRS.includes(pair)) this.counted.set(pair, (this.counted.get(pair) ?? 0) + count);
      else this.refusedRows += count;
    }
    fs.appendFileSync(this.file, text);
  }
}

/** What /metrics says about the series and the rows refused for them. */
function seriesFigures(samples: readonly Sample[]): Record<string, number | undefined> {
  return {
    series: metricValue(samples, "logtally_series"),
    limit: metricValue(samples, "logtally_series_limit"),
    refusedRows: metricValue(samples, "logtally_rows_rejected_total", { reason: "series_limit" }),
  };
}

/**
 * Requirement: with --max-series N, rows of pairs that do not exist yet once
 * N exist are not counted but rejected as series_limit (logged once per
 * pair), existing pairs keep counting exactly, and the decision is durable:
 * after a kill -9 and a restart the numbers are the same.
 */
describe("--max-series", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-series-"));
  const stateDir = path.join(dir, "state");
  const log = new SeriesLimitedLog(path.join(dir, "log.csv"));
  const processes: RunningProcess[] = [];
  const track = <P extends RunningProcess>(running: P): P => {
    processes.push(running);
    return running;
  };
  let aggregator: AggregatorProcess;

  after(async () => {
    await Promise.all(processes.map((running) => running.stop("SIGKILL")));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const startLimited = async (name: string, grpcPort = 0): Promise<AggregatorProcess> =>
    track(await startAggregator(stateDir, { name, grpcPort, extraArgs: ["--max-series", String(MAX_SERIES)] }));

  const settled = async (): Promise<void> => {
    await waitUntilSettled(aggregator.grpcAddress, { limited: log.file });
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(log.counted));
    assert.deepEqual(seriesFigures(await scrape(aggregator.metricsUrl)), { series: MAX_SERIES, limit: MAX_SERIES, refusedRows: log.refusedRows });
  };

  it("refuses the rows of new pairs once N pairs exist, logging each pair once, while existing pairs keep counting", async () => {
    aggregator = await startLimited("aggregator-limited");
    log.append({ "server1|backup": 3, "server2|cron": 2, "server3|deploy": 1 });
    track(startSidecar("sidecar-limited", { file: log.file, aggregator: aggregator.grpcAddress, sourceId: "limited" }));
    await waitUntilSettled(aggregator.grpcAddress, { limited: log.file });
    // Each append is settled before the next, so the late pairs come in several batches.
    const appends: Array<Record<string, number>> = [
      { "server4|backup": 5, "server1|backup": 2 },
      { "server5|cron": 1, "server4|backup": 2, "server3|deploy": 4 },
      { "server4|backup": 1, "server2|cron": 1 },
    ];
    for (const rows of appends) {
      log.append(rows);
      await settled();
    }
    const refusals = aggregator.logs.filter((line) => line.msg === "series limit reached: rows of a new pair not counted");
    assert.deepEqual(refusals.map((line) => `${String(line.host)}|${String(line.jobName)}`).sort(), LATE_PAIRS, aggregator.dump());
  });

  it("keeps the same numbers across kill -9 and a restart, also when killed while rows are shipped", async () => {
    const port = aggregator.grpcPort;
    await aggregator.stop("SIGKILL");
    aggregator = await startLimited("aggregator-restarted", port);
    await settled();

    // Killed while a burst of rows is being shipped: whatever batch was in
    // flight is shipped again after the restart and decided the same way.
    for (let burst = 0; burst < 20; burst++) log.append({ "server2|cron": 3, "server5|cron": 2, "server4|backup": 1, "server1|backup": 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await aggregator.stop("SIGKILL");
    aggregator = await startLimited("aggregator-restarted-again", port);
    await settled();
  });
});

import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, type RunningProcess } from "@logtally/testing";
import { buildEarlierCommit } from "../support/earlier-build";
import { APP_EVENTS_SPEC, JsonLogWriter } from "../support/json-log-writer";
import { LogWriter } from "../support/log-writer";
import { startAggregator, startSidecar, type Programs } from "../support/processes";
import { aggregatorCounts, QueryProbe, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";

/**
 * A rolling upgrade is no flag day: logtally as it was before counting specs
 * (the commit below, built from this repository's history) beside this build.
 * The new aggregator opens the old state with every count, and counts on from
 * the old sidecars; a new sidecar with the defaults counts into an old
 * aggregator; only a sidecar with a spec needs the new aggregator: it waits
 * for one, saying so, and ships nothing meanwhile.
 */
const BEFORE_COUNTING_SPECS = "32c5a0c629cb4d9b977220e47b46d04f5b3841b6";

describe("upgrade from logtally before counting specs", () => {
  let dir: string;
  let earlier: Programs;
  const processes: RunningProcess[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-upgrade-"));
    earlier = buildEarlierCommit(BEFORE_COUNTING_SPECS, path.join(dir, "earlier"));
  });

  after(async () => {
    await Promise.all(processes.map((running) => running.stop("SIGKILL")));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("opens the old state with its counts and goes on counting from an old sidecar; a rollback is the copy taken before", async () => {
    const stateDir = path.join(dir, "state");
    const grpcPort = await freePort();
    const writer = new LogWriter(path.join(dir, "pod-a.csv"), 21);
    writer.append(600, { header: true });
    const oldAggregator = await startAggregator(stateDir, { grpcPort, name: "old-aggregator", programs: earlier });
    processes.push(oldAggregator);
    const oldSidecar = startSidecar("old-sidecar", { file: writer.file, aggregator: oldAggregator.grpcAddress, sourceId: "pod-a", programs: earlier });
    processes.push(oldSidecar);
    await waitUntilSettled(oldAggregator.grpcAddress, { "pod-a": writer.file });
    assert.deepEqual(sorted(await aggregatorCounts(oldAggregator.metricsUrl)), sorted(writer.truth));
    assert.equal((await oldAggregator.stop("SIGTERM")).code, 0);
    // The copy the README asks for before an upgrade: the stopped aggregator's state directory.
    const backupDir = path.join(dir, "state-before-upgrade");
    fs.cpSync(stateDir, backupDir, { recursive: true });

    // The aggregator is upgraded in place; the old sidecar reconnects to it.
    const aggregator = await startAggregator(stateDir, { grpcPort });
    processes.push(aggregator);
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth), "counts after the upgrade");
    writer.append(500);
    await waitUntilSettled(aggregator.grpcAddress, { "pod-a": writer.file });
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth), "counts from the old sidecar");
    assert.equal(oldSidecar.child.exitCode, null, "the old sidecar is still running");
    assert.equal((await aggregator.stop("SIGTERM")).code, 0);

    // The old aggregator refuses the upgraded state, naming the schema: never counted wrong.
    await assert.rejects(
      startAggregator(stateDir, { name: "refused-old-aggregator", programs: earlier }),
      /schema version \d+ is newer than this aggregator understands/,
    );
    // Rolled back with the copy: the sidecar ships again what came after it, and the counts are exact.
    fs.rmSync(stateDir, { recursive: true });
    fs.cpSync(backupDir, stateDir, { recursive: true });
    writer.append(300);
    const rolledBack = await startAggregator(stateDir, { grpcPort, name: "rolled-back-aggregator", programs: earlier });
    processes.push(rolledBack);
    await waitUntilSettled(rolledBack.grpcAddress, { "pod-a": writer.file });
    assert.deepEqual(sorted(await aggregatorCounts(rolledBack.metricsUrl)), sorted(writer.truth), "counts after the rollback");
    await oldSidecar.stop("SIGTERM");
    assert.equal((await rolledBack.stop("SIGTERM")).code, 0);
  });

  it("counts from a new sidecar with the defaults into an old aggregator", async () => {
    const writer = new LogWriter(path.join(dir, "pod-b.csv"), 22);
    writer.append(700, { header: true });
    const oldAggregator = await startAggregator(path.join(dir, "old-state"), { name: "old-aggregator-2", programs: earlier });
    processes.push(oldAggregator);
    processes.push(startSidecar("new-sidecar", { file: writer.file, aggregator: oldAggregator.grpcAddress, sourceId: "pod-b" }));
    await waitUntilSettled(oldAggregator.grpcAddress, { "pod-b": writer.file });
    assert.deepEqual(sorted(await aggregatorCounts(oldAggregator.metricsUrl)), sorted(writer.truth));

    // A spec the old aggregator cannot count: the sidecar waits, naming the upgrade it needs, and ships nothing.
    const json = new JsonLogWriter(path.join(dir, "pod-c.log"), 23);
    json.append(50);
    const specSidecar = startSidecar("new-spec-sidecar", {
      file: json.file,
      aggregator: oldAggregator.grpcAddress,
      sourceId: "pod-c",
      extraArgs: [...APP_EVENTS_SPEC],
    });
    processes.push(specSidecar);
    await waitFor(async () => (/upgrade the aggregator/.test(specSidecar.dump()) ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `the sidecar to ask for an upgraded aggregator\n${specSidecar.dump()}`,
    });
    assert.equal(specSidecar.child.exitCode, null, "the sidecar keeps running: its pod is not held up");
    assert.deepEqual(sorted(await aggregatorCounts(oldAggregator.metricsUrl)), sorted(writer.truth));
    const probe = new QueryProbe(oldAggregator.grpcAddress);
    const sources = await probe.listSources().finally(() => probe.close());
    assert.ok(
      sources.every((source) => source.sourceId !== "pod-c" || Number(source.committedOffset) === 0),
      "nothing of pod-c is counted",
    );
  });
});

import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LogWriter } from "../support/log-writer";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { aggregatorCounts, sorted, waitUntilSettled } from "../support/query";

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Restarts while rows flow: the aggregator killed with SIGKILL and stopped
 * with SIGTERM, a sidecar killed and restarted. Totals must stay exact.
 */
describe("restarts mid-stream", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-restart-"));
  const stateDir = path.join(dir, "state");
  const processes = new Set<RunningProcess>();
  let writing = true;

  after(async () => {
    writing = false;
    await Promise.all([...processes].map((running) => running.stop("SIGKILL")));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps totals exact across aggregator and sidecar restarts", async () => {
    let aggregator: AggregatorProcess = await startAggregator(stateDir);
    processes.add(aggregator);
    const ports = { grpcPort: aggregator.grpcPort, metricsPort: aggregator.metricsPort };
    const writers = { a: new LogWriter(path.join(dir, "a.csv"), 11), b: new LogWriter(path.join(dir, "b.csv"), 12) };
    const sidecarFor = (name: "a" | "b"): RunningProcess => {
      const sidecar = startSidecar(`sidecar-${name}`, { file: writers[name].file, aggregator: aggregator.grpcAddress, sourceId: name });
      processes.add(sidecar);
      return sidecar;
    };
    writers.a.append(200);
    writers.b.append(200);
    let sidecarA = sidecarFor("a");
    const sidecarB = sidecarFor("b");
    const writerLoop = (async () => {
      while (writing) {
        writers.a.append(50);
        writers.b.append(50);
        await pause(20);
      }
    })();

    // Faults begin once both sidecars are shipping, however slowly they started.
    await Promise.all([sidecarA, sidecarB].map((sidecar) => sidecar.waitForLog("resuming from the committed offset")));
    await pause(400);
    await aggregator.stop("SIGKILL");
    processes.delete(aggregator);
    await pause(300);
    aggregator = await startAggregator(stateDir, ports);
    processes.add(aggregator);

    await pause(400);
    await sidecarA.stop("SIGKILL");
    processes.delete(sidecarA);
    await pause(200);
    sidecarA = sidecarFor("a");

    await pause(400);
    const graceful = await aggregator.stop("SIGTERM");
    assert.equal(graceful.code, 0, `aggregator did not exit cleanly on SIGTERM\n${aggregator.dump()}`);
    assert.ok(aggregator.logs.some((line) => line.msg === "aggregator stopped"));
    processes.delete(aggregator);
    aggregator = await startAggregator(stateDir, ports);
    processes.add(aggregator);

    await pause(400);
    writing = false;
    await writerLoop;
    await waitUntilSettled(aggregator.grpcAddress, { a: writers.a.file, b: writers.b.file }).catch((error: Error) => {
      throw new Error(`${error.message}\n${[...processes].map((running) => running.dump()).join("\n")}`);
    });
    const expected = new Map(writers.a.truth);
    for (const [key, count] of writers.b.truth) expected.set(key, (expected.get(key) ?? 0) + count);
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(expected));
    // The restarts were real: the sidecar that ran throughout reconnected and resumed.
    assert.ok(
      sidecarB.logs.filter((line) => line.msg === "resuming from the committed offset").length >= 2,
      `sidecar-b resumed fewer than twice\n${sidecarB.dump()}`,
    );
  });
});

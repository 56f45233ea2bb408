import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LogWriter } from "../support/log-writer";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import { aggregatorCounts, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";
import type { RunningProcess } from "@logtally/testing";

/** Why the full-disk test cannot run here, or undefined when it can. */
function fullDiskUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return "mounting a small tmpfs needs root";
  return undefined;
}

async function readyStatus(aggregator: AggregatorProcess): Promise<number> {
  return (await fetch(aggregator.metricsUrl.replace(/\/metrics$/, "/readyz"))).status;
}

/** Writes to `file` until the file system is full. */
function fillUp(file: string): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const fd = fs.openSync(file, "w");
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A state volume that fills up: the aggregator says it is not ready and why,
 * refuses batches with RESOURCE_EXHAUSTED instead of INTERNAL stack traces,
 * and counts everything once space is back; the sidecar backs off further and
 * further meanwhile, saying the aggregator's reason.
 */
describe("state safety: a full disk", { skip: fullDiskUnsupported() }, () => {
  let dir: string;
  let mount: string;
  let mounted = false;
  let aggregator: AggregatorProcess;
  let sidecar: RunningProcess;
  let writer: LogWriter;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-full-disk-"));
    mount = path.join(dir, "state");
    fs.mkdirSync(mount);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount]);
    mounted = true;
    aggregator = await startAggregator(mount);
    writer = new LogWriter(path.join(dir, "app.csv"), 7);
    writer.append(100, { junkRatio: 0 });
    sidecar = startSidecar("sidecar-full-disk", { file: writer.file, aggregator: aggregator.grpcAddress, sourceId: "full-disk" });
    await waitUntilSettled(aggregator.grpcAddress, { "full-disk": writer.file });
  });

  after(async () => {
    await sidecar?.stop("SIGKILL");
    await aggregator?.stop("SIGKILL");
    if (mounted) execFileSync("umount", [mount]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is not ready while its disk is full, says why once, and counts every row exactly once when space is back", async () => {
    const filler = path.join(mount, "filler");
    fillUp(filler);
    for (let burst = 0; burst < 20; burst++) writer.append(500, { junkRatio: 0 });
    await waitFor(async () => ((await readyStatus(aggregator)) === 503 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `/readyz to say 503 with the disk full\n${aggregator.dump()}`,
    });
    await waitFor(
      () => (sidecar.logs.some((line) => String(line.msg).startsWith("aggregator cannot count now: state database is disk full")) ? true : undefined),
      {
        timeoutMs: 30_000,
        describe: () => `the sidecar to log the aggregator's reason\n${sidecar.dump()}`,
      },
    );
    // Refused again and again: the backoff keeps growing instead of starting over at each connect.
    await waitFor(() => (sidecar.logs.some((line) => Number(line.retryInMs) > 1_000) ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `a retry delay over 1 s\n${sidecar.dump()}`,
    });
    const refusals = aggregator.logs.filter((line) => String(line.msg).startsWith("state database is disk full"));
    assert.ok(
      refusals.length >= 1 && refusals.length <= 3,
      `one log line per change of condition, not one per batch: ${refusals.length}\n${aggregator.dump()}`,
    );
    assert.ok(!aggregator.logs.some((line) => line.msg === "ingest stream failed"), `no INTERNAL failures\n${aggregator.dump()}`);

    fs.rmSync(filler);
    await waitFor(async () => ((await readyStatus(aggregator)) === 200 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `/readyz to say 200 once space is back\n${aggregator.dump()}`,
    });
    assert.ok(
      aggregator.logs.some((line) => line.msg === "state database writable again: counting resumes"),
      aggregator.dump(),
    );
    await waitUntilSettled(aggregator.grpcAddress, { "full-disk": writer.file }, 90_000);
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth));
  });
});

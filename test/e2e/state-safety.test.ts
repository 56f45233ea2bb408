import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { healthCheck } from "../support/health";
import { LogWriter } from "../support/log-writer";
import { APP_EVENTS_LABELS, APP_EVENTS_SPEC, JsonLogWriter } from "../support/json-log-writer";
import { metricValue, scrape, seriesOf } from "../support/metrics";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import { aggregatorCounts, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";
import { AGGREGATOR_MAIN, programEnv, RunningProcess } from "@logtally/testing";

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
    // Not ready (Ingest), but alive (""): a liveness probe must not restart it for a full disk.
    assert.equal(await healthCheck(aggregator.grpcAddress, "logtally.v1.Ingest"), "NOT_SERVING");
    assert.equal(await healthCheck(aggregator.grpcAddress, ""), "SERVING");
    assert.equal(metricValue(await scrape(aggregator.metricsUrl), "logtally_state_writable", { condition: "disk full" }), 0);

    // A sidecar counting a new metric meanwhile is refused for the full disk too, and waits for space.
    const events = new JsonLogWriter(path.join(dir, "events.log"), 12);
    events.append(300);
    const specSidecar = startSidecar("sidecar-new-metric", {
      file: events.file,
      aggregator: aggregator.grpcAddress,
      sourceId: "new-metric",
      extraArgs: [...APP_EVENTS_SPEC],
    });
    try {
      await waitFor(
        () => (specSidecar.logs.some((line) => String(line.msg).startsWith("aggregator cannot count now: state database is disk full")) ? true : undefined),
        { timeoutMs: 30_000, describe: () => `the new metric's sidecar to log the aggregator's reason\n${specSidecar.dump()}` },
      );
      assert.equal(specSidecar.child.exitCode, null, "refused for a full disk, the sidecar keeps waiting");

      fs.rmSync(filler);
      await waitFor(async () => ((await readyStatus(aggregator)) === 200 ? true : undefined), {
        timeoutMs: 30_000,
        describe: () => `/readyz to say 200 once space is back\n${aggregator.dump()}`,
      });
      assert.ok(
        aggregator.logs.some((line) => line.msg === "state database writable again: counting resumes"),
        aggregator.dump(),
      );
      const writable = (await scrape(aggregator.metricsUrl)).filter((sample) => sample.name === "logtally_state_writable");
      assert.deepEqual(
        writable.map((sample) => [sample.labels, sample.value]),
        [[{}, 1]],
      );
      await waitUntilSettled(aggregator.grpcAddress, { "full-disk": writer.file, "new-metric": events.file }, 90_000);
      assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth));
      assert.deepEqual(sorted(seriesOf(await scrape(aggregator.metricsUrl), "app_events_total", APP_EVENTS_LABELS)), sorted(events.truth));
    } finally {
      await specSidecar.stop("SIGKILL");
    }
  });
});

/** Why the test cannot run here, or undefined when it can. */
function unprivilegedUserUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return "running the aggregator as another user needs root";
  return undefined;
}

/** nobody:nogroup: a user for whom file modes hold (they do not for root). */
const UNPRIVILEGED = { uid: 65534, gid: 65534 };

/**
 * A state the aggregator's user cannot write (a file restored with mode 0400,
 * a wrong securityContext): refused at start, saying why and leaving it as it
 * was, never advising to throw it away; counted on once it is writable. (While
 * running, a state that stops taking writes is the full-disk case above: the
 * kernel refuses to remount read-only a volume with files open for writing.)
 */
describe("state safety: a state the aggregator cannot write", { skip: unprivilegedUserUnsupported() }, () => {
  let dir: string;
  let state: string;
  let aggregator: AggregatorProcess;
  let sidecar: RunningProcess;
  let writer: LogWriter;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-read-only-"));
    fs.chmodSync(dir, 0o755);
    state = path.join(dir, "state");
    fs.mkdirSync(state);
    fs.chownSync(state, UNPRIVILEGED.uid, UNPRIVILEGED.gid);
    aggregator = await startAggregator(state, { user: UNPRIVILEGED });
    writer = new LogWriter(path.join(dir, "app.csv"), 11);
    writer.append(100, { junkRatio: 0 });
    sidecar = startSidecar("sidecar-read-only", { file: writer.file, aggregator: aggregator.grpcAddress, sourceId: "read-only" });
    await waitUntilSettled(aggregator.grpcAddress, { "read-only": writer.file });
  });

  after(async () => {
    await sidecar?.stop("SIGKILL");
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses at start a database its user may not write, leaving it as it was", async () => {
    const ports = { grpcPort: aggregator.grpcPort, metricsPort: aggregator.metricsPort };
    assert.equal((await aggregator.stop("SIGTERM")).code, 0, aggregator.dump());
    const database = path.join(state, "logtally.db");
    fs.chmodSync(database, 0o400);
    const before = fs.readFileSync(database);
    const refused = RunningProcess.start(
      "aggregator-refused",
      AGGREGATOR_MAIN,
      ["--state-dir", state, "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
      { env: programEnv(), user: UNPRIVILEGED },
    );
    const exit = await refused.exited;
    assert.notEqual(exit.code, 0, refused.dump());
    const reason = refused.logs.find((line) =>
      String(line.msg).includes(`logtally.db cannot be written: this process (uid ${UNPRIVILEGED.uid}) may not write it (EACCES)`),
    );
    assert.ok(reason, refused.dump());
    assert.ok(!String(reason.msg).includes("Restore it from a backup"), refused.dump());
    assert.deepEqual(fs.readFileSync(database), before, "the refused database must be left as it was");

    fs.chmodSync(database, 0o600);
    writer.append(300, { junkRatio: 0 });
    aggregator = await startAggregator(state, { ...ports, user: UNPRIVILEGED, name: "aggregator-writable" });
    await waitUntilSettled(aggregator.grpcAddress, { "read-only": writer.file }, 60_000);
    assert.deepEqual(sorted(await aggregatorCounts(aggregator.metricsUrl)), sorted(writer.truth));
  });
});

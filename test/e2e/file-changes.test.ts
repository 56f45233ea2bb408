import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LogWriter, pointLink } from "../support/log-writer";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { aggregatorCounts, QueryProbe, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";

/**
 * What happens to a log file in real life (rotation, truncation, a sidecar
 * stopped for a pod scale-down) with one sidecar and one aggregator. Each case
 * ends with the aggregator's counts equal to what was written.
 */
describe("file changes", () => {
  let dir: string;
  let aggregator: AggregatorProcess;
  const sidecars = new Set<RunningProcess>();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-files-"));
    aggregator = await startAggregator(path.join(dir, "state"));
  });

  after(async () => {
    await Promise.all([...sidecars].map((sidecar) => sidecar.stop("SIGKILL")));
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function sidecar(name: string, file: string, sourceId: string): RunningProcess {
    const running = startSidecar(name, { file, aggregator: aggregator.grpcAddress, sourceId });
    sidecars.add(running);
    return running;
  }

  async function countsOfSource(sourcePrefix: string): Promise<Map<string, number>> {
    // Each case uses its own hosts, so its counts can be told apart.
    const counts = await aggregatorCounts(aggregator.metricsUrl);
    return new Map([...counts].filter(([key]) => key.startsWith(sourcePrefix)));
  }

  it("follows rename rotation, twice in quick succession, draining the old file first", async () => {
    const file = path.join(dir, "rotate.csv");
    const writer = new LogWriter(file, 21, ["rot-a", "rot-b"]);
    writer.append(300, { header: true });
    sidecar("rotate", file, "rotate");
    await waitUntilSettled(aggregator.grpcAddress, { rotate: file });
    writer.append(300);
    writer.rotate();
    writer.append(300);
    writer.rotate();
    writer.append(300);
    await waitUntilSettled(aggregator.grpcAddress, { rotate: file });
    assert.deepEqual(sorted(await countsOfSource("rot-")), sorted(writer.truth));
  });

  it("ships rows rotated away while the sidecar was down", async () => {
    const file = path.join(dir, "down.csv");
    const writer = new LogWriter(file, 22, ["down-a", "down-b"]);
    writer.append(200);
    const first = sidecar("down-1", file, "down");
    await waitUntilSettled(aggregator.grpcAddress, { down: file });
    await first.stop("SIGKILL");
    writer.append(200);
    writer.rotate();
    writer.append(200);
    writer.rotate();
    writer.append(200);
    sidecar("down-2", file, "down");
    await waitUntilSettled(aggregator.grpcAddress, { down: file });
    assert.deepEqual(sorted(await countsOfSource("down-")), sorted(writer.truth));
  });

  it("after copytruncate, counts the rows it had not read yet from the copy, then the file from its start", async () => {
    const file = path.join(dir, "copytrunc.csv");
    const writer = new LogWriter(file, 29, ["copytrunc-a", "copytrunc-b"]);
    writer.write("host,job_name\n");
    writer.append(200, { junkRatio: 0 });
    const running = sidecar("copytrunc", file, "copytrunc");
    await waitUntilSettled(aggregator.grpcAddress, { copytrunc: file });
    // The sidecar falls behind (stopped here), rows keep coming, then
    // logrotate copies the file aside and truncates it: those rows are only
    // in the copy now.
    running.child.kill("SIGSTOP");
    try {
      writer.append(300, { junkRatio: 0 });
      fs.copyFileSync(file, `${file}.1`);
      fs.truncateSync(file, 0);
      writer.append(50, { junkRatio: 0 });
    } finally {
      running.child.kill("SIGCONT");
    }
    await waitUntilSettled(aggregator.grpcAddress, { copytrunc: file });
    assert.deepEqual(sorted(await countsOfSource("copytrunc-")), sorted(writer.truth));
    assert.ok(
      running.logs.some((line) => line.msg === "file truncated in place: counting the rest of it from its copy"),
      running.dump(),
    );
  });

  it("finishes the file a symbolic link led to before the sidecar stopped, when the link was re-pointed meanwhile", async () => {
    // The way Kubernetes points /var/log/containers/*.log at a container's new log.
    const link = path.join(dir, "linked.log");
    const first = new LogWriter(path.join(dir, "linked-0.log"), 31, ["linked-a", "linked-b"]);
    first.write("host,job_name\n");
    first.append(100, { junkRatio: 0 });
    fs.symlinkSync(first.file, link);
    const before = sidecar("linked-1", link, "linked");
    await waitUntilSettled(aggregator.grpcAddress, { linked: link });
    assert.equal((await before.stop("SIGTERM")).code, 0, before.dump());
    sidecars.delete(before);
    // While no sidecar runs: more rows for the old file, then the link moves to a new one.
    first.append(200, { junkRatio: 0 });
    const second = new LogWriter(path.join(dir, "linked-1.log"), 37, ["linked-a", "linked-b"]);
    second.write("host,job_name\n");
    second.append(50, { junkRatio: 0 });
    pointLink(link, second.file);
    const after = sidecar("linked-2", link, "linked");
    await waitUntilSettled(aggregator.grpcAddress, { linked: link });
    const truth = new Map(first.truth);
    for (const [key, count] of second.truth) truth.set(key, (truth.get(key) ?? 0) + count);
    assert.deepEqual(sorted(await countsOfSource("linked-")), sorted(truth));
    assert.ok(
      after.logs.some((line) => line.msg === "the latest file is no longer where the path leads: finishing it first"),
      after.dump(),
    );
  });

  it("also when the link's new file had no complete line yet as the sidecar started", async () => {
    const link = path.join(dir, "relinked.log");
    const first = new LogWriter(path.join(dir, "relinked-0.log"), 41, ["relinked-a", "relinked-b"]);
    first.write("host,job_name\n");
    first.append(100, { junkRatio: 0 });
    fs.symlinkSync(first.file, link);
    const before = sidecar("relinked-1", link, "relinked");
    await waitUntilSettled(aggregator.grpcAddress, { relinked: link });
    assert.equal((await before.stop("SIGTERM")).code, 0, before.dump());
    sidecars.delete(before);
    first.append(200, { junkRatio: 0 });
    const second = new LogWriter(path.join(dir, "relinked-1.log"), 43, ["relinked-a", "relinked-b"]);
    fs.writeFileSync(second.file, "");
    pointLink(link, second.file);
    const after = sidecar("relinked-2", link, "relinked");
    await after.waitForLog("starting with file");
    // Only now does the new file get its first lines.
    second.write("host,job_name\n");
    second.append(50, { junkRatio: 0 });
    await waitUntilSettled(aggregator.grpcAddress, { relinked: link });
    const truth = new Map(first.truth);
    for (const [key, count] of second.truth) truth.set(key, (truth.get(key) ?? 0) + count);
    assert.deepEqual(sorted(await countsOfSource("relinked-")), sorted(truth));
  });

  it("starts a new generation when the file is truncated, even when it regrows past the old size at once", async () => {
    const file = path.join(dir, "trunc.csv");
    const writer = new LogWriter(file, 23, ["trunc-a", "trunc-b"]);
    writer.write("host,job_name\n");
    writer.append(200);
    sidecar("trunc", file, "trunc");
    await waitUntilSettled(aggregator.grpcAddress, { trunc: file });
    const sizeBefore = fs.statSync(file).size;
    // Truncate to zero, then at once write more than before, starting with
    // the same first line: only the bytes before the offset tell.
    fs.truncateSync(file, 0);
    writer.write("host,job_name\n");
    writer.append(400, { junkRatio: 0 });
    assert.ok(fs.statSync(file).size > sizeBefore);
    await waitUntilSettled(aggregator.grpcAddress, { trunc: file });
    assert.deepEqual(sorted(await countsOfSource("trunc-")), sorted(writer.truth));
    // And a plain truncation to zero followed by fewer bytes.
    fs.truncateSync(file, 0);
    writer.append(5, { junkRatio: 0 });
    await waitUntilSettled(aggregator.grpcAddress, { trunc: file });
    assert.deepEqual(sorted(await countsOfSource("trunc-")), sorted(writer.truth));
    const probe = new QueryProbe(aggregator.grpcAddress);
    try {
      const source = (await probe.listSources()).find((candidate) => candidate.sourceId === "trunc")!;
      assert.ok(Number(source.generations) >= 3, `expected 3 generations, got ${source.generations}`);
    } finally {
      probe.close();
    }
  });

  it("drains to the end of the file on SIGTERM before exiting", async () => {
    const file = path.join(dir, "drain.csv");
    const writer = new LogWriter(file, 24, ["drain-a", "drain-b"]);
    const running = sidecar("drain", file, "drain");
    writer.append(100);
    await waitFor(() => (running.logs.some((line) => line.msg === "resuming from the committed offset") ? true : undefined));
    // Rows written right before the pod is told to stop.
    writer.append(20_000);
    writer.write("partial-host,partial-job");
    const exit = await running.stop("SIGTERM");
    assert.equal(exit.code, 0, running.dump());
    const probe = new QueryProbe(aggregator.grpcAddress);
    try {
      const source = (await probe.listSources()).find((candidate) => candidate.sourceId === "drain")!;
      // Everything up to the last newline is counted; the partial line is not.
      assert.equal(Number(source.committedOffset), fs.statSync(file).size - "partial-host,partial-job".length);
    } finally {
      probe.close();
    }
    assert.deepEqual(sorted(await countsOfSource("drain-")), sorted(writer.truth));
  });
});

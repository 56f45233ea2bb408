import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Aggregator, parseAggregatorConfig, type AggregatorConfig } from "@logtally/aggregator";
import { createLogger } from "@logtally/proto";
import { Sidecar, SidecarMetrics, parseSidecarConfig, type SidecarConfig } from "@logtally/sidecar";
import { LogWriter, seededRandom } from "./harness/log-writer";
import { aggregatorCounts, sorted, waitUntilSettled } from "./harness/query";
import { waitFor } from "./harness/wait";

/**
 * A model-based test of following one file, in the spirit of Vector's
 * file-source model tests: a real sidecar and a real aggregator run in this
 * process while a seeded sequence of operations appends, rotates, truncates,
 * deletes and recreates the file and stops and restarts the sidecar. The
 * model is the multiset of rows appended; at the end the aggregator's counts
 * must equal it exactly.
 *
 * Replay one sequence with LOGTALLY_MODEL_SEED=<seed>; run more with
 * LOGTALLY_MODEL_RUNS=<n>.
 */

const RUNS = Number(process.env.LOGTALLY_MODEL_RUNS ?? 12);
const FIRST_SEED = Number(process.env.LOGTALLY_MODEL_SEED ?? 7_000);
const OPERATIONS = 25;
const MAX_ROTATED = 3;
const HEADER = "host,job_name\n";

type Operation =
  | "append"
  | "append_partial"
  | "rotate"
  | "truncate"
  | "truncate_regrow"
  | "delete_recreate"
  | "stop_sidecar"
  | "drain_sidecar"
  | "start_sidecar"
  | "pause";

const WEIGHTS: Array<[Operation, number]> = [
  ["append", 30],
  ["append_partial", 8],
  ["rotate", 8],
  ["truncate", 4],
  ["truncate_regrow", 4],
  ["delete_recreate", 4],
  ["stop_sidecar", 5],
  ["drain_sidecar", 4],
  ["start_sidecar", 8],
  ["pause", 8],
];

const silent = createLogger("model", process.env.LOGTALLY_MODEL_LOG ?? "silent");

/** The system under test and the model, for one sequence. */
class ModelRun {
  private readonly random: () => number;
  readonly writer: LogWriter;
  readonly steps: string[] = [];
  private aggregator!: Aggregator;
  private aggregatorAddress = "";
  private metricsUrl = "";
  private sidecar: Sidecar | undefined;
  private completePartial: (() => void) | undefined;
  private rotationsWhileDown = 0;
  private settles = 0;

  constructor(
    readonly seed: number,
    readonly dir: string,
  ) {
    this.random = seededRandom(seed);
    this.writer = new LogWriter(path.join(dir, "log.csv"), seed + 1);
  }

  async start(): Promise<void> {
    const config = parseAggregatorConfig(
      ["--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--state-dir", path.join(this.dir, "state"), "--shutdown-grace-ms", "200"],
      {},
    ) as AggregatorConfig;
    this.aggregator = new Aggregator(config, silent);
    const { grpcPort, metricsPort } = await this.aggregator.start();
    this.aggregatorAddress = `127.0.0.1:${grpcPort}`;
    this.metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    fs.writeFileSync(this.writer.file, HEADER);
    this.startSidecar();
    // A source begins with its first commit: rotated files that exist before
    // then are history, not rows appended to a tailed file.
    await waitUntilSettled(this.aggregatorAddress, { model: this.writer.file }, 30_000);
  }

  private startSidecar(): void {
    const config = parseSidecarConfig(
      [
        "--file", this.writer.file,
        "--aggregator", this.aggregatorAddress,
        "--source-id", "model",
        "--poll-interval-ms", "20",
        "--rotate-grace-ms", "50",
        "--max-rotated-files", String(MAX_ROTATED),
        "--drain-timeout-ms", "10000",
      ],
      {},
    ) as SidecarConfig;
    this.sidecar = new Sidecar(config, new SidecarMetrics(), silent);
    this.sidecar.start();
    this.rotationsWhileDown = 0;
  }

  private pick(): Operation {
    const total = WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.random() * total;
    for (const [operation, weight] of WEIGHTS) {
      roll -= weight;
      if (roll < 0) return operation;
    }
    return "append";
  }

  /** Applies one random operation to the file or the sidecar, keeping the model. */
  async step(): Promise<void> {
    const operation = this.pick();
    this.steps.push(operation);
    // A partial line is completed by the next operation, whatever it is.
    if (operation !== "append_partial" && this.completePartial) this.finishPartial();
    switch (operation) {
      case "append":
        this.writer.append(1 + Math.floor(this.random() * 300));
        break;
      case "append_partial":
        if (!this.completePartial) this.completePartial = this.writer.beginRow();
        break;
      case "rotate":
        // While the sidecar is down, stay within the rotated files it looks through.
        if (!this.sidecar && this.rotationsWhileDown >= MAX_ROTATED - 1) break;
        // Rotating onto file.MAX deletes the oldest file: destructive, so only once it is counted.
        if (fs.existsSync(`${this.writer.file}.${MAX_ROTATED}`)) await this.settle();
        this.writer.rotate(MAX_ROTATED);
        if (!this.sidecar) this.rotationsWhileDown++;
        break;
      case "truncate":
      case "truncate_regrow":
      case "delete_recreate":
        await this.destroyContent(operation);
        break;
      case "stop_sidecar":
        await this.sidecar?.stop();
        this.sidecar = undefined;
        break;
      case "drain_sidecar":
        await this.sidecar?.drain();
        this.sidecar = undefined;
        break;
      case "start_sidecar":
        if (!this.sidecar) this.startSidecar();
        break;
      case "pause":
        await new Promise((resolve) => setTimeout(resolve, Math.floor(this.random() * 50)));
        break;
    }
  }

  /**
   * Rows destroyed before anyone read them cannot be counted: wait until the
   * file is counted to its end, then destroy its content.
   */
  private async destroyContent(operation: "truncate" | "truncate_regrow" | "delete_recreate"): Promise<void> {
    await this.settle();
    const file = this.writer.file;
    const sizeBefore = fs.statSync(file).size;
    if (operation === "truncate") {
      fs.truncateSync(file, 0);
    } else if (operation === "truncate_regrow") {
      // Same first line, more bytes than before: only the anchor tells.
      fs.truncateSync(file, 0);
      fs.appendFileSync(file, HEADER);
      while (fs.statSync(file).size <= sizeBefore) this.writer.append(100, { junkRatio: 0 });
    } else {
      fs.unlinkSync(file);
      fs.writeFileSync(file, HEADER);
    }
  }

  private finishPartial(): void {
    this.completePartial?.();
    this.completePartial = undefined;
  }

  /** Ends the sequence with a complete last line and a running sidecar, then waits until everything is counted. */
  async settle(): Promise<void> {
    this.finishPartial();
    // The file's current generation exists once it has a row. The row is
    // unique: a file truncated and rewritten with the same bytes up to the
    // same size is, by design, indistinguishable from one left alone.
    const host = `settle-${++this.settles}`;
    this.writer.write(`${host},marker\n`);
    this.writer.count(host, "marker");
    if (!this.sidecar) this.startSidecar();
    // Counted once the marker is: it is the file's last line, and offsets
    // leave no gaps. (A committed offset equal to the file's size alone can
    // be that of the content before a truncation.)
    await waitFor(async () => ((await aggregatorCounts(this.metricsUrl)).get(`${host}|marker`) === 1 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `the marker row ${host} to be counted`,
    });
    await waitUntilSettled(this.aggregatorAddress, { model: this.writer.file }, 30_000);
  }

  async counts(): Promise<Map<string, number>> {
    return aggregatorCounts(this.metricsUrl);
  }

  async close(): Promise<void> {
    await this.sidecar?.stop();
    await this.aggregator?.stop();
  }
}

for (let run = 0; run < RUNS; run++) {
  const seed = FIRST_SEED + run;
  test(`model sequence, seed ${seed}: every row appended is counted exactly once`, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logtally-model-${seed}-`));
    const model = new ModelRun(seed, dir);
    t.after(async () => {
      await model.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await model.start();
    for (let step = 0; step < OPERATIONS; step++) await model.step();
    const replay = `replay: LOGTALLY_MODEL_SEED=${seed} LOGTALLY_MODEL_RUNS=1; steps: ${model.steps.join(" ")}`;
    await model.settle().catch((error: Error) => assert.fail(`${error.message}\n${replay}`));
    assert.deepEqual(sorted(await model.counts()), sorted(model.writer.truth), replay);
  });
}

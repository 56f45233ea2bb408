import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import { Aggregator, parseAggregatorConfig, type AggregatorConfig } from "@logtally/aggregator";
import type { RejectReason } from "@logtally/proto";
import { createLogger } from "@logtally/runtime";
import { Sidecar, SidecarMetrics, parseSidecarConfig, type SidecarConfig } from "@logtally/sidecar";
import { LogWriter, pointLink } from "../support/log-writer";
import { seededRandom } from "@logtally/testing";
import { countsOf, scrape, metricValue, type Sample } from "../support/metrics";
import { QueryProbe, sorted } from "../support/query";
import { waitFor } from "../support/wait";

/**
 * A model-based test of following one file, in the spirit of Vector's
 * file-source model tests. A real aggregator and a real sidecar run in this
 * process while a seeded sequence of operations appends rows (with junk, CRLF
 * and partial last lines), rotates, truncates, regrows, deletes and recreates
 * the file, and stops, drains and restarts the sidecar. The model is what was
 * appended: the rows per (host, job_name) and the rejected lines per reason.
 * At the end the aggregator must hold exactly the model: every complete row
 * counted once, nothing else.
 *
 * Rows destroyed before anyone read them cannot be counted, so the file is
 * only destroyed (truncated, deleted, rotated past the last kept file) once
 * the aggregator has counted it to its end.
 *
 * Linked sequences follow a symbolic link instead, the way Kubernetes points
 * `/var/log/containers/*.log` at a container's log: there a rotation
 * re-points the link at a new file and leaves the old one where it was.
 *
 * Replay one sequence with LOGTALLY_MODEL_SEED=<seed> (and
 * LOGTALLY_MODEL_LINKED=1 for a linked one); run more sequences with
 * LOGTALLY_MODEL_RUNS=<n> (from the given seed, or from 1).
 */

const SEED = envInteger("LOGTALLY_MODEL_SEED");
const RUNS = envInteger("LOGTALLY_MODEL_RUNS") ?? (SEED === undefined ? 20 : 1);
const FIRST_SEED = SEED ?? 1;
/** Linked sequences: with a seed given, only the kind LOGTALLY_MODEL_LINKED names. */
const LINKED_RUNS = SEED === undefined ? 8 : 0;
const LINKED_ONLY = process.env.LOGTALLY_MODEL_LINKED === "1";
/**
 * Sequences that once failed, run with the default ones: each reuses a
 * deleted file's inode for a new file with the same first line.
 */
const REGRESSION_SEEDS = SEED === undefined && envInteger("LOGTALLY_MODEL_RUNS") === undefined ? [121, 125, 138, 143] : [];
const OPERATIONS = 25;
/** Rotated files kept (file.1 … file.3); also the sidecar's --max-rotated-files. */
const MAX_ROTATED = 3;
/** The sidecar's --max-line-bytes: small, so an overlong line is cheap to write. */
const MAX_LINE_BYTES = 2048;
const SETTLE_TIMEOUT_MS = 30_000;

const HOSTS = ["server1", "server2", "db-1", "web-01", "東京-1"];
const JOBS = ["backup", "cron daily", "report,weekly", "vacuum", 'say "hi"'];

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

const WEIGHTS: ReadonlyArray<readonly [Operation, number]> = [
  ["append", 30],
  ["append_partial", 10],
  ["rotate", 9],
  ["truncate", 3],
  ["truncate_regrow", 3],
  ["delete_recreate", 3],
  ["stop_sidecar", 5],
  ["drain_sidecar", 4],
  ["start_sidecar", 9],
  ["pause", 8],
];

const log = createLogger("tailer-model", process.env.LOGTALLY_MODEL_LOG ?? "silent");

/** What one line must amount to once its newline is written. */
type Effect =
  | { readonly kind: "row"; readonly host: string; readonly jobName: string }
  | { readonly kind: "rejected"; readonly reason: RejectReason }
  | { readonly kind: "skipped" };

/** One line with its terminator, as written to the file. */
interface Line {
  readonly bytes: Buffer;
  readonly effect: Effect;
}

/** The written part of a line whose newline is not in the file yet. */
interface PartialLine {
  readonly headBytes: number;
  readonly tail: Buffer;
  readonly effect: Effect;
}

const SKIPPED: Effect = { kind: "skipped" };
const rowOf = (host: string, jobName: string): Effect => ({ kind: "row", host, jobName });
const rejectedAs = (reason: RejectReason): Effect => ({ kind: "rejected", reason });

/** Random lines of every shape the row format knows, each with the effect the format gives it. */
class LineFactory {
  constructor(private readonly random: () => number) {}

  /** A row, or now and then a junk line; `atFileStart` when it becomes the file's first line. */
  next(atFileStart: boolean): Line {
    return this.random() < 0.06 ? this.junk(atFileStart) : this.row();
  }

  /** A complete row, formatted in one of the ways that must count as (host, job_name). */
  row(): Line {
    const host = this.pick(HOSTS);
    const jobName = this.pick(JOBS);
    const roll = this.random();
    // Only the first two fields are read: what follows may even be malformed.
    const extra = roll < 0.05 ? ',extra,"unbalanced' : roll < 0.1 ? ",extra" : "";
    return this.line(`${this.field(host)},${this.field(jobName)}${extra}`, rowOf(host, jobName));
  }

  /** The header, skipped at offset 0 only. */
  header(): Line {
    const text = this.pick(["host,job_name", "\u{feff}host,job_name", '"host", "job_name"']);
    return this.line(text, SKIPPED);
  }

  private junk(atFileStart: boolean): Line {
    switch (Math.floor(this.random() * 11)) {
      case 0:
        return this.line("", SKIPPED);
      case 1:
        return this.line(" \t ", SKIPPED);
      case 2:
        return this.line("only-one-field", rejectedAs("too_few_fields"));
      case 3:
        return this.line(",backup", rejectedAs("empty_field"));
      case 4:
        return this.line("server9,", rejectedAs("empty_field"));
      case 5:
        return this.line('"unbalanced,job', rejectedAs("unbalanced_quotes"));
      case 6:
        return this.line("\u0001ctrl,job", rejectedAs("invalid_label"));
      case 7:
        return this.line(Buffer.from([0x73, 0xc3, 0x28, 0x2c, 0x6a]), rejectedAs("invalid_utf8"));
      case 8:
        return this.line(`${"h".repeat(1025 + Math.floor(this.random() * 500))},job`, rejectedAs("field_too_long"));
      case 9:
        // Sometimes longer than the 4 KiB that identify a file by its first line.
        return this.line("x".repeat(MAX_LINE_BYTES + 1 + Math.floor(this.random() * 4000)), rejectedAs("line_too_long"));
      default:
        // A header anywhere but at offset 0 is an ordinary row.
        return this.line("host,job_name", atFileStart ? SKIPPED : rowOf("host", "job_name"));
    }
  }

  private line(content: string | Buffer, effect: Effect): Line {
    const eol = this.random() < 0.1 ? "\r\n" : "\n";
    return { bytes: Buffer.concat([Buffer.from(content), Buffer.from(eol)]), effect };
  }

  private field(value: string): string {
    const roll = this.random();
    if (/[,"]/.test(value) || roll < 0.15) return `${roll < 0.05 ? " " : ""}"${value.replaceAll('"', '""')}"`;
    return roll < 0.3 ? ` ${value}\t` : value;
  }

  private pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.random() * values.length)]!;
  }
}

/** The aggregator, the sidecar, the file and the model, for one sequence. */
class ModelRun {
  readonly steps: string[] = [];
  private readonly random: () => number;
  private readonly lines: LineFactory;
  private readonly writer: LogWriter;
  private readonly rejected = new Map<string, number>();
  private readonly readBufferBytes: number;
  private readonly batchMaxBytes: number;
  private aggregator: Aggregator | undefined;
  private probe: QueryProbe | undefined;
  private aggregatorAddress = "";
  private metricsUrl = "";
  private sidecar: Sidecar | undefined;
  /** The live file's first line, once one was written: a regrown file starts with it again. */
  private firstLine: Line | undefined;
  private partial: PartialLine | undefined;
  private markers = 0;
  /** Inodes of the files counted to their end at the last settle and not written since. */
  private readonly countedInodes = new Set<number>();
  /** Rotations since a sidecar last started. */
  private rotationsWhileStopped = 0;

  /** Files a linked sequence's link led to, so far: `log-0.csv`, `log-1.csv` … */
  private linkTargets = 0;
  /**
   * New files or generations at the followed path since the last settle (a
   * re-point, a truncation, a file deleted and recreated): the sidecar may
   * not have seen them yet.
   */
  private changesSinceSettle = 0;

  constructor(
    readonly seed: number,
    private readonly dir: string,
    /** Whether the followed path is a symbolic link, rotated by re-pointing it. */
    private readonly linked: boolean,
  ) {
    this.random = seededRandom(seed);
    this.lines = new LineFactory(this.random);
    this.writer = new LogWriter(path.join(dir, "log.csv"), seed);
    // Small buffers make lines span reads and batches end mid-file.
    this.readBufferBytes = this.random() < 0.5 ? 4096 : 1 << 20;
    this.batchMaxBytes = this.random() < 0.5 ? 4096 : 8 << 20;
  }

  /** The followed path: the file itself, or the symbolic link to it. */
  private get file(): string {
    return this.writer.file;
  }

  /** The file the followed path leads to now. */
  private get target(): string {
    return this.linked ? fs.realpathSync(this.file) : this.file;
  }

  /** How to replay this sequence, and what it did so far. */
  replay(): string {
    const steps = this.steps.map((step, i) => `\n  ${i + 1}. ${step}`).join("");
    return (
      `${this.linked ? "linked " : ""}seed ${this.seed} (replay: cd test && LOGTALLY_MODEL_SEED=${this.seed}${this.linked ? " LOGTALLY_MODEL_LINKED=1" : ""} node --import tsx --test e2e/tailer-model.test.ts)\n` +
      `read buffer ${this.readBufferBytes} B, batch ${this.batchMaxBytes} B; steps:${steps}`
    );
  }

  /** Starts the aggregator and a first sidecar, and waits for the source's first commit. */
  async start(): Promise<void> {
    const config = parseAggregatorConfig(
      ["--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--state-dir", path.join(this.dir, "state")],
      {},
    ) as AggregatorConfig;
    this.aggregator = new Aggregator(config, log);
    const { grpcPort, metricsPort } = await this.aggregator.start();
    this.aggregatorAddress = `127.0.0.1:${grpcPort}`;
    this.metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    this.probe = new QueryProbe(this.aggregatorAddress);
    if (this.linked) this.pointLinkAtNewFile();
    else fs.writeFileSync(this.file, "");
    if (this.random() < 0.7) await this.appendLines([this.lines.header()]);
    // A source begins with its first commit: files rotated away before then
    // are history, not rows appended to a followed file.
    this.startSidecar();
    await this.settle();
  }

  /** Applies one random operation to the file or the sidecar, keeping the model. */
  async step(): Promise<void> {
    const operation = this.pick();
    switch (operation) {
      case "append": {
        const rows = this.random() < 0.1 ? 300 + Math.floor(this.random() * 1200) : 1 + Math.floor(this.random() * 150);
        this.steps.push(`append ${rows} lines${this.partial ? " (completing the partial line)" : ""}`);
        await this.appendLines(this.randomLines(rows));
        break;
      }
      case "append_partial": {
        const rows = Math.floor(this.random() * 20);
        this.steps.push(`append ${rows} lines and a partial line${this.partial ? " (completing the previous one)" : ""}`);
        const lines = this.randomLines(rows);
        let partial = this.random() < 0.85 ? this.lines.row() : this.lines.next(rows === 0 && this.isEmpty());
        // A lone "\n" cannot be cut in two.
        if (partial.bytes.length < 2) partial = this.lines.row();
        await this.appendLines(lines, partial);
        break;
      }
      case "rotate":
        await (this.linked ? this.relink() : this.rotate());
        break;
      case "truncate":
      case "truncate_regrow":
      case "delete_recreate":
        await this.destroy(operation);
        break;
      case "stop_sidecar":
      case "drain_sidecar":
        if (!this.sidecar) {
          this.steps.push(`${operation} (no sidecar running)`);
          break;
        }
        this.steps.push(operation === "stop_sidecar" ? "stop the sidecar" : "drain the sidecar");
        await this.stopSidecar(operation === "stop_sidecar" ? "stop" : "drain");
        if (operation === "drain_sidecar") await this.checkDrained();
        break;
      case "start_sidecar":
        this.steps.push(this.sidecar ? "start (already running)" : "start a new sidecar");
        if (!this.sidecar) this.startSidecar();
        break;
      case "pause": {
        const ms = Math.floor(this.random() * 50);
        this.steps.push(`pause ${ms} ms`);
        await sleep(ms);
        break;
      }
    }
  }

  /**
   * Completes the last line, makes sure a sidecar runs, and checks the
   * aggregator against the model: the counts of every series, the rows
   * counted, and the rejected lines by reason.
   */
  async verify(): Promise<void> {
    this.steps.push("final: settle and compare");
    await this.settle();
    const samples = await scrape(this.metricsUrl);
    const counts = sorted(countsOf(samples));
    assert.deepEqual(counts, sorted(this.writer.truth), `log_host_job_count differs from the rows appended; ${this.replay()}`);
    assert.equal(metricValue(samples, "logtally_rows_counted_total"), this.writer.rowsWritten, `rows counted; ${this.replay()}`);
    assert.deepEqual(sorted(rejectedByReason(samples)), sorted(this.rejected), `rejected lines by reason; ${this.replay()}`);
  }

  /** Stops the sidecar and the aggregator; safe to call after any failure. */
  async close(): Promise<void> {
    try {
      await this.sidecar?.stop();
    } finally {
      this.probe?.close();
      await this.aggregator?.stop();
    }
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

  private isEmpty(): boolean {
    return fs.statSync(this.file).size === 0;
  }

  private randomLines(count: number): Line[] {
    const atFileStart = this.isEmpty();
    return Array.from({ length: count }, (_, i) => this.lines.next(atFileStart && i === 0));
  }

  /**
   * Appends the rest of the pending partial line, then `lines`, then the head
   * of `partial`, in pieces of random size, now and then letting the sidecar
   * run between two pieces (so it also reads lines cut by a write). A line
   * enters the model once its newline is written.
   */
  private async appendLines(lines: readonly Line[], partial?: Line): Promise<void> {
    const pieces: Buffer[] = [];
    const effects: Effect[] = [];
    if (this.partial) {
      pieces.push(this.partial.tail);
      effects.push(this.partial.effect);
      this.partial = undefined;
    }
    for (const line of lines) {
      this.firstLine ??= line;
      pieces.push(line.bytes);
      effects.push(line.effect);
    }
    if (partial) {
      this.firstLine ??= partial;
      // The head never holds the newline; it may end inside a character or after the "\r".
      const cut = 1 + Math.floor(this.random() * (partial.bytes.length - 1));
      pieces.push(partial.bytes.subarray(0, cut));
      this.partial = { headBytes: cut, tail: partial.bytes.subarray(cut), effect: partial.effect };
    }
    await this.writeInPieces(Buffer.concat(pieces));
    for (const effect of effects) this.count(effect);
  }

  private async writeInPieces(bytes: Buffer): Promise<void> {
    if (bytes.length > 0) this.uncount(this.file);
    for (let at = 0; at < bytes.length; ) {
      const size = Math.min(bytes.length - at, 1 + Math.floor(this.random() * 4096));
      fs.appendFileSync(this.file, bytes.subarray(at, at + size));
      at += size;
      if (at < bytes.length && this.random() < 0.3) await nextTurn();
    }
  }

  private count(effect: Effect): void {
    if (effect.kind === "row") this.writer.count(effect.host, effect.jobName);
    else if (effect.kind === "rejected") this.rejected.set(effect.reason, (this.rejected.get(effect.reason) ?? 0) + 1);
  }

  /**
   * Rename rotation keeping MAX_ROTATED files. Rotating onto the oldest
   * deletes it, so it must be counted first; most often it already is, as in
   * logrotate's steady state. While no sidecar runs, at most
   * --max-rotated-files rotations: the file it stopped in stays in view.
   */
  private async rotate(): Promise<void> {
    const oldest = `${this.file}.${MAX_ROTATED}`;
    const mustSettle = (fs.existsSync(oldest) && !this.isCounted(oldest)) || (!this.sidecar && this.rotationsWhileStopped >= MAX_ROTATED);
    const settled = mustSettle ? await this.settleKeepingState() : "";
    // A partial line left behind by a rotation never gets its newline: it must never count.
    const abandon = this.partial !== undefined && this.random() < 0.3;
    if (abandon) this.partial = undefined;
    else if (this.partial) await this.appendLines([]);
    const deletes = fs.existsSync(oldest);
    if (deletes) this.countedInodes.delete(fs.statSync(oldest).ino);
    this.writer.rotate(MAX_ROTATED);
    if (!this.sidecar) this.rotationsWhileStopped++;
    this.firstLine = undefined;
    const header = this.random() < 0.5;
    if (header) await this.appendLines([this.lines.header()]);
    this.steps.push(
      `rotate${settled}${deletes ? ` deleting the counted ${path.basename(oldest)}` : ""}` +
        `${abandon ? ", abandoning the partial line" : ""}${header ? ", new file with a header" : ""}`,
    );
  }

  /**
   * Re-points the link at a new file; the old one stays. The sidecar finishes
   * the file the aggregator last saw a generation of; a file (or generation)
   * the link led to only in between, unseen, it cannot know of: a re-point
   * after any other change since the last settle settles first.
   */
  private async relink(): Promise<void> {
    const settled = this.changesSinceSettle > 0 ? await this.settleKeepingState() : "";
    const abandon = this.partial !== undefined && this.random() < 0.3;
    if (abandon) this.partial = undefined;
    else if (this.partial) await this.appendLines([]);
    const target = this.pointLinkAtNewFile();
    this.changesSinceSettle++;
    this.firstLine = undefined;
    const header = this.random() < 0.5;
    if (header) await this.appendLines([this.lines.header()]);
    this.steps.push(
      `re-point the link at ${path.basename(target)}${settled}${abandon ? ", abandoning the partial line" : ""}${header ? ", with a header" : ""}`,
    );
  }

  /** Creates the link's next file, empty, and points the link at it in one rename; returns the file. */
  private pointLinkAtNewFile(): string {
    const target = path.join(this.dir, `log-${this.linkTargets++}.csv`);
    fs.writeFileSync(target, "");
    pointLink(this.file, target);
    return target;
  }

  /** Truncates, truncates and regrows, or deletes and recreates the live file, once it is counted to its end. */
  private async destroy(operation: "truncate" | "truncate_regrow" | "delete_recreate"): Promise<void> {
    const settled = this.isCounted(this.file) ? " (already counted)" : await this.settleKeepingState();
    const sizeBefore = fs.statSync(this.file).size;
    this.uncount(this.file);
    this.changesSinceSettle++;
    if (operation === "truncate") {
      fs.truncateSync(this.file, 0);
      this.firstLine = undefined;
      this.steps.push(`truncate to 0 (was ${sizeBefore} B)${settled}`);
    } else if (operation === "truncate_regrow") {
      // In one go, so a reader never sees the file shorter: with the same
      // first line, only the bytes before the committed offset tell.
      // An empty file has no first line to repeat: it starts with a header.
      const firstLine = this.firstLine ?? this.lines.header();
      this.firstLine = firstLine;
      const content = [firstLine];
      let bytes = firstLine.bytes.length;
      while (bytes <= sizeBefore) {
        const line = this.lines.next(false);
        content.push(line);
        bytes += line.bytes.length;
      }
      fs.truncateSync(this.file, 0);
      fs.appendFileSync(this.file, Buffer.concat(content.map((line) => line.bytes)));
      for (const line of content) this.count(line.effect);
      this.steps.push(`truncate and regrow ${sizeBefore} B → ${bytes} B, same first line${settled}`);
    } else {
      const target = this.target;
      fs.unlinkSync(target);
      fs.writeFileSync(target, "");
      this.firstLine = undefined;
      const header = this.random() < 0.5;
      if (header) await this.appendLines([this.lines.header()]);
      this.steps.push(`delete and recreate${header ? " with a header" : ""}${settled}`);
    }
  }

  /**
   * Settles (see settle()), and if no sidecar was running, stops the one
   * started for it, so that what follows still happens while none runs.
   * Returns a note for the step log.
   */
  private async settleKeepingState(): Promise<string> {
    const started = await this.settle();
    if (!started) return " after settling";
    await this.stopSidecar("stop");
    return " after settling with a sidecar started and stopped again";
  }

  /**
   * Completes the partial line, appends a unique marker row and waits until
   * the aggregator has counted it and the committed offset equals the file's
   * size: batches leave no gaps, so every row now in the file is counted. (A
   * committed offset equal to the size alone can be that of the content
   * before a truncation; the marker cannot.) Starts a sidecar if none runs;
   * returns whether it did.
   */
  private async settle(): Promise<boolean> {
    const marker = `settle-${++this.markers}`;
    // Never the first line: a file regrown from its first line would then
    // repeat the marker byte for byte, and be indistinguishable from the
    // counted content by design.
    const before = this.isEmpty() ? [this.lines.row()] : [];
    await this.appendLines([...before, { bytes: Buffer.from(`${marker},marker\n`), effect: rowOf(marker, "marker") }]);
    const started = !this.sidecar;
    if (started) this.startSidecar();
    const probe = this.probe!;
    let last = "";
    try {
      await waitFor(
        async () => {
          const [counts, offset] = await Promise.all([probe.getCounts({ host: marker }), this.committedOffset()]);
          const size = fs.statSync(this.file).size;
          last = `marker counted ${counts[0]?.count ?? 0} times, committed offset ${offset}, file size ${size}`;
          return counts.length > 0 && offset === size ? true : undefined;
        },
        { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 10, describe: () => `marker ${marker} to be counted (${last})` },
      );
    } catch (error) {
      assert.fail(`${(error as Error).message}; ${this.replay()}`);
    }
    this.changesSinceSettle = 0;
    // Files are read in rotation order, so the rotated files are counted too.
    for (let n = 0; n <= MAX_ROTATED; n++) {
      const link = n === 0 ? this.file : `${this.file}.${n}`;
      if (fs.existsSync(link)) this.countedInodes.add(fs.statSync(link).ino);
    }
    return started;
  }

  /** True when destroying `file` cannot lose a row: it is empty, or counted to its end. */
  private isCounted(file: string): boolean {
    const { size, ino } = fs.statSync(file);
    return size === 0 || this.countedInodes.has(ino);
  }

  private uncount(file: string): void {
    this.countedInodes.delete(fs.statSync(file).ino);
  }

  /** A graceful stop must leave every complete line of the file committed. */
  private async checkDrained(): Promise<void> {
    const completeBytes = fs.statSync(this.file).size - (this.partial?.headBytes ?? 0);
    if (completeBytes === 0) return;
    assert.equal(
      await this.committedOffset(),
      completeBytes,
      `after drain() the committed offset must be the end of the file's last complete line; ${this.replay()}`,
    );
  }

  /** The committed offset the aggregator reports for the source (its most recently advanced file). */
  private async committedOffset(): Promise<number | undefined> {
    const source = (await this.probe!.listSources()).find(({ sourceId }) => sourceId === "model");
    return source && Number(source.committedOffset);
  }

  private startSidecar(): void {
    const config = parseSidecarConfig(
      [
        "--file",
        this.file,
        "--aggregator",
        this.aggregatorAddress,
        "--source-id",
        "model",
        "--poll-interval-ms",
        "20",
        "--rotate-grace-ms",
        "50",
        "--ack-timeout-ms",
        "5000",
        "--max-rotated-files",
        String(MAX_ROTATED),
        "--max-line-bytes",
        String(MAX_LINE_BYTES),
        "--read-buffer-bytes",
        String(this.readBufferBytes),
        "--batch-max-bytes",
        String(this.batchMaxBytes),
        "--drain-timeout-ms",
        "10000",
      ],
      {},
    ) as SidecarConfig;
    this.sidecar = new Sidecar(config, new SidecarMetrics(), log);
    this.sidecar.start();
    this.rotationsWhileStopped = 0;
  }

  private async stopSidecar(how: "stop" | "drain"): Promise<void> {
    const sidecar = this.sidecar;
    this.sidecar = undefined;
    await (how === "stop" ? sidecar?.stop() : sidecar?.drain());
  }
}

/** logtally_rows_rejected_total as reason → lines. */
function rejectedByReason(samples: readonly Sample[]): Map<string, number> {
  const byReason = new Map<string, number>();
  for (const sample of samples) {
    if (sample.name === "logtally_rows_rejected_total" && sample.value !== 0) byReason.set(sample.labels.reason ?? "", sample.value);
  }
  return byReason;
}

function envInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === "") return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}=${text}: expected a non-negative integer`);
  return value;
}

const seeds = [...Array.from({ length: RUNS }, (_, run) => FIRST_SEED + run), ...REGRESSION_SEEDS];
const sequences = [
  ...(LINKED_ONLY ? [] : seeds.map((seed) => ({ seed, linked: false }))),
  ...(LINKED_ONLY ? seeds : Array.from({ length: LINKED_RUNS }, (_, run) => FIRST_SEED + run)).map((seed) => ({ seed, linked: true })),
];
for (const { seed, linked } of sequences) {
  test(`${linked ? "linked " : ""}model sequence, seed ${seed}: every complete row appended is counted exactly once`, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logtally-model-${seed}-`));
    const model = new ModelRun(seed, dir, linked);
    t.after(async () => {
      try {
        await model.close();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
    await model.start();
    for (let step = 0; step < OPERATIONS; step++) await model.step();
    await model.verify();
  });
}

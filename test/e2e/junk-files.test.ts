import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MAX_DELTAS_PER_BATCH, type RejectReason } from "@logtally/proto";
import { seededRandom } from "@logtally/testing";
import { countsOf, scrape, metricValue, type Sample } from "../support/metrics";
import { processMemory } from "../support/process-memory";
import { startAggregator, startSidecar, type AggregatorProcess } from "../support/processes";
import type { RunningProcess } from "@logtally/testing";
import { QueryProbe, sorted, waitUntilSettled } from "../support/query";
import { waitFor } from "../support/wait";

/** The sidecar's default --max-line-bytes. */
const MAX_LINE_BYTES = 64 * 1024;
const GIB = 2 ** 30;
/** Generous: far above what the sidecar needs, far below what holding a 1 GiB line would take. */
const MAX_SIDECAR_RSS_BYTES = 300 * 1024 * 1024;
const ONE_GIB_TIMEOUT_MS = 180_000;

/** What a file's complete lines amount to. */
interface Expected {
  /** Rows per "host|job_name". */
  readonly rows: Map<string, number>;
  readonly rejected: Map<RejectReason, number>;
  /** Blank and header lines. */
  skipped: number;
}

/** What one line of a file must come to, known from how the line was written. */
type LineOutcome = { row: [host: string, jobName: string] } | { rejected: RejectReason } | "skipped";

/** A line (without its "\n") and what it must come to. */
type JunkLine = readonly [line: string | Buffer, outcome: LineOutcome];

const row = (host: string, jobName: string): LineOutcome => ({ row: [host, jobName] });
const rejected = (reason: RejectReason): LineOutcome => ({ rejected: reason });
const bytes = (...parts: Array<string | number[] | Buffer>): Buffer =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : Buffer.isBuffer(part) ? part : Buffer.from(part))));

function emptyExpected(): Expected {
  return { rows: new Map(), rejected: new Map(), skipped: 0 };
}

function addOutcome(expected: Expected, outcome: LineOutcome): void {
  if (outcome === "skipped") {
    expected.skipped += 1;
  } else if ("row" in outcome) {
    const key = outcome.row.join("|");
    expected.rows.set(key, (expected.rows.get(key) ?? 0) + 1);
  } else {
    expected.rejected.set(outcome.rejected, (expected.rejected.get(outcome.rejected) ?? 0) + 1);
  }
}

/** The file holding `lines`, each ended by "\n", and what they must come to. */
function fileOf(lines: readonly JunkLine[]): { content: Buffer; expected: Expected } {
  const expected = emptyExpected();
  for (const [, outcome] of lines) addOutcome(expected, outcome);
  return { content: Buffer.concat(lines.flatMap(([line]) => [Buffer.from(line), Buffer.from("\n")])), expected };
}

/** Bytes that give a line or a field its shape: kept out of random bytes where they would change it. */
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const QUOTE = 0x22;

/**
 * `count` bytes from a seeded generator, so a failing file can be written
 * again. A byte in `excluded` becomes 0xff instead, a byte UTF-8 never uses.
 */
function randomBytes(random: () => number, count: number, excluded: readonly number[] = []): Buffer {
  const buffer = Buffer.alloc(count);
  for (let index = 0; index < count; index++) {
    const byte = Math.floor(random() * 256);
    buffer[index] = excluded.includes(byte) ? 0xff : byte;
  }
  return buffer;
}

/** Random bytes that stay inside one unquoted field: no newline, no comma, no quote. */
const fieldBytes = (random: () => number, maxCount: number): Buffer => randomBytes(random, Math.floor(random() * (maxCount + 1)), [NEWLINE, COMMA, QUOTE]);

/** Random bytes that stay inside one line. */
const lineBytes = (random: () => number, maxCount: number): Buffer => randomBytes(random, Math.floor(random() * (maxCount + 1)), [NEWLINE]);

/**
 * Makers of lines of random bytes whose outcome follows from how each is
 * built, whatever its random bytes (README, "Row format"): the expectation is
 * recorded as the line is made, never worked out by a parser. Fields stay
 * under the 1024-byte label limit where there are two of them.
 */
const RANDOM_LINES: ReadonlyArray<(random: () => number) => JunkLine> = [
  // No comma: one field, too few whatever it holds. The leading 0xff keeps
  // it from being blank, quoted or a byte-order mark.
  (random) => [bytes([0xff], fieldBytes(random, 2048)), rejected("too_few_fields")],
  // A quote opened and never closed; the commas after it are quoted content.
  (random) => [bytes('"', randomBytes(random, Math.floor(random() * 513), [NEWLINE, QUOTE])), rejected("unbalanced_quotes")],
  // Two fields and the host is not UTF-8 (it holds 0xff): invalid_utf8,
  // whatever the job_name. A third field is never read.
  (random) => [bytes([0xff], fieldBytes(random, 500), ",", fieldBytes(random, 500), ",", lineBytes(random, 500)), rejected("invalid_utf8")],
  // Valid UTF-8, but a C0 control character inside the host.
  (random) => [bytes("ctl", [1 + Math.floor(random() * 8)], "-host,job"), rejected("invalid_label")],
  // A valid row followed by a third field of random bytes, which is never read.
  (random) => {
    const host = `bin-ok-${Math.floor(random() * 7)}`;
    return [bytes(`${host},job,`, lineBytes(random, 500)), row(host, "job")];
  },
  // Blank: nothing, or only spaces and tabs.
  (random) => [Array.from({ length: Math.floor(random() * 4) }, () => (random() < 0.5 ? " " : "\t")).join(""), "skipped"],
];

/** Lines made by RANDOM_LINES, picked at random, until they fill at least `minBytes`. */
function randomLines(random: () => number, minBytes: number): JunkLine[] {
  const lines: JunkLine[] = [];
  for (let filled = 0; filled < minBytes; ) {
    const line = RANDOM_LINES[Math.floor(random() * RANDOM_LINES.length)]!(random);
    lines.push(line);
    filled += Buffer.byteLength(line[0]) + 1;
  }
  return lines;
}

/** Creates `file` as `size` bytes of NULs without writing them: a sparse file. */
function sparseNuls(file: string, size: number): void {
  fs.writeFileSync(file, "");
  fs.truncateSync(file, size);
}

/** `logtally_rows_rejected_total`-like samples by their `reason` label. */
function byReason(samples: readonly Sample[], name: string): Map<string, number> {
  return new Map(samples.filter((sample) => sample.name === name).map((sample) => [sample.labels.reason ?? "", sample.value]));
}

/** What the aggregator exposes: the counts and the rejected rows by reason. */
interface AggregatorState {
  readonly counts: Map<string, number>;
  readonly rejected: Map<string, number>;
}

async function aggregatorState(aggregator: AggregatorProcess): Promise<AggregatorState> {
  const samples = await scrape(aggregator.metricsUrl);
  return { counts: countsOf(samples), rejected: byReason(samples, "logtally_rows_rejected_total") };
}

/** How `after` differs from `before`, failing if any value fell or vanished. */
function growth(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const grown = new Map<string, number>();
  for (const [key, value] of before) assert.ok((after.get(key) ?? 0) >= value, `${key} fell from ${value} to ${after.get(key)}`);
  for (const [key, value] of after) if (value !== (before.get(key) ?? 0)) grown.set(key, value - (before.get(key) ?? 0));
  return grown;
}

/** Checks that the aggregator gained exactly `expected`'s rows and rejections since `before`. */
async function assertAggregatorGained(aggregator: AggregatorProcess, before: AggregatorState, expected: Expected): Promise<void> {
  const now = await aggregatorState(aggregator);
  assert.deepEqual(sorted(growth(before.counts, now.counts)), sorted(expected.rows), "log_host_job_count gained exactly the valid rows");
  assert.deepEqual(sorted(growth(before.rejected, now.rejected)), sorted(expected.rejected), "logtally_rows_rejected_total gained exactly the rejected lines");
}

/** A real sidecar process on one junk file, with its own /metrics. */
class SidecarUnderTest {
  private constructor(
    readonly process: RunningProcess,
    readonly pid: number,
    private readonly metricsUrl: string,
  ) {}

  static async start(name: string, file: string, aggregator: AggregatorProcess): Promise<SidecarUnderTest> {
    const running = startSidecar(name, { file, aggregator: aggregator.grpcAddress, sourceId: name, extraArgs: ["--metrics-listen", "127.0.0.1:0"] });
    try {
      const listening = await running.waitForLog("metrics listening");
      return new SidecarUnderTest(running, running.child.pid!, `http://127.0.0.1:${Number(listening.metricsPort)}/metrics`);
    } catch (error) {
      await running.stop("SIGKILL");
      throw error;
    }
  }

  metrics(): Promise<Sample[]> {
    return scrape(this.metricsUrl);
  }

  /** Checks the sidecar's own tally of the lines it parsed. */
  async assertTally(expected: Expected): Promise<void> {
    const samples = await this.metrics();
    const counted = [...expected.rows.values()].reduce((sum, count) => sum + count, 0);
    assert.equal(metricValue(samples, "logtally_sidecar_rows_total", { outcome: "counted" }), counted, "rows counted by the sidecar");
    assert.equal(metricValue(samples, "logtally_sidecar_rows_total", { outcome: "skipped" }), expected.skipped, "lines skipped by the sidecar");
    assert.deepEqual(sorted(byReason(samples, "logtally_sidecar_rows_rejected_total")), sorted(expected.rejected), "lines rejected by the sidecar");
  }

  /**
   * Checks that the junk did the process no harm: it is the same process,
   * still running, it never lost its stream or started over on its file, it
   * logged no error, and its resident memory never passed the bound.
   */
  async assertUnharmed(): Promise<void> {
    const { child } = this.process;
    assert.equal(child.pid, this.pid);
    assert.deepEqual(
      { exitCode: child.exitCode, signalCode: child.signalCode },
      { exitCode: null, signalCode: null },
      `the sidecar exited\n${this.process.dump()}`,
    );
    const samples = await this.metrics();
    assert.equal(metricValue(samples, "logtally_sidecar_reconnects_total"), 0, "the stream to the aggregator was never lost");
    assert.deepEqual(
      samples.filter((sample) => sample.name === "logtally_sidecar_generations_total").map((sample) => [sample.labels.reason, sample.value]),
      [["start", 1]],
      "one generation, started once: the file was never taken for rewritten or rotated",
    );
    const errors = this.process.logs.filter((line) => Number(line.level) >= 50);
    assert.deepEqual(errors, [], "no error logged");
    const memory = processMemory(this.pid);
    assert.ok(
      memory.peakRssBytes < MAX_SIDECAR_RSS_BYTES,
      `the sidecar's resident memory peaked at ${(memory.peakRssBytes / 2 ** 20).toFixed(0)} MiB (bound ${MAX_SIDECAR_RSS_BYTES / 2 ** 20} MiB)`,
    );
  }

  /** SIGTERM: drains (there is nothing left to ship) and must exit cleanly. */
  async stop(): Promise<void> {
    const exit = await this.process.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `the sidecar did not exit cleanly\n${this.process.dump()}`);
  }

  /** For cleanup after a failure. */
  kill(): Promise<unknown> {
    return this.process.stop("SIGKILL");
  }
}

/**
 * Requirement: whatever bytes a log file holds, the sidecar keeps running in
 * bounded memory, counts the valid rows exactly and counts every other line
 * under the right reason. Real aggregator and sidecar processes; each case has
 * its own sidecar and source and checks what the shared aggregator gained.
 */
describe("junk files, end to end", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-junk-files-"));
  let aggregator: AggregatorProcess | undefined;
  const started: SidecarUnderTest[] = [];

  const running = (): AggregatorProcess => {
    assert.ok(aggregator, "the aggregator did not start");
    return aggregator;
  };

  /** Starts a sidecar on `file` as source `name`, stopped by after() if the case fails. */
  const startSidecarOn = async (name: string, file: string): Promise<SidecarUnderTest> => {
    const sidecar = await SidecarUnderTest.start(name, file, running());
    started.push(sidecar);
    return sidecar;
  };

  /**
   * Writes `content` as a new file (or lets it write the file), ships it with
   * a new sidecar, checks every outcome and returns the sidecar, still running.
   */
  const shipAndCheck = async (name: string, content: Buffer | ((file: string) => void), expected: Expected, timeoutMs?: number): Promise<SidecarUnderTest> => {
    const aggregator = running();
    const file = path.join(dir, `${name}.csv`);
    if (Buffer.isBuffer(content)) fs.writeFileSync(file, content);
    else content(file);
    const before = await aggregatorState(aggregator);
    const sidecar = await startSidecarOn(name, file);
    await waitUntilSettled(aggregator.grpcAddress, { [name]: file }, timeoutMs);
    await assertAggregatorGained(aggregator, before, expected);
    await sidecar.assertTally(expected);
    await sidecar.assertUnharmed();
    return sidecar;
  };

  before(async () => {
    aggregator = await startAggregator(path.join(dir, "state"));
  });

  after(async () => {
    await Promise.all(started.map((sidecar) => sidecar.kill()));
    await aggregator?.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("random binary with valid rows between: every line counted as what it was built to be, the rows exact", async () => {
    const random = seededRandom(0x6a756e6b);
    const validRows = Array.from({ length: 300 }, (_, index): JunkLine => [`bin-ok-${index % 7},job`, row(`bin-ok-${index % 7}`, "job")]);
    // Twice the limit without a newline: one line over it.
    const longLine: JunkLine = [randomBytes(random, 2 * MAX_LINE_BYTES, [NEWLINE]), rejected("line_too_long")];
    const { content, expected } = fileOf([
      ...randomLines(random, 1 << 20),
      ...validRows,
      longLine,
      ...validRows,
      // More distinct lines than the sidecar's row cache holds (4 MiB): it is cleared while rows are open in a batch.
      ...randomLines(random, 5 << 20),
      ...validRows,
    ]);
    // The file holds every outcome, so a miscount of any kind shows.
    assert.deepEqual([...expected.rejected.keys()].sort(), ["invalid_label", "invalid_utf8", "line_too_long", "too_few_fields", "unbalanced_quotes"]);
    assert.ok(expected.skipped > 0 && expected.rows.size === 7, "blank lines and every bin-ok host");
    await (await shipAndCheck("random-binary", content, expected)).stop();
  });

  it("a 1 GiB line of NULs, then a newline and valid rows: the line is rejected once as line_too_long", { timeout: ONE_GIB_TIMEOUT_MS }, async () => {
    const rows = `${"gib-ok,job\n".repeat(5)}gib-ok,other\n`;
    const sidecar = await shipAndCheck(
      "one-gib-line",
      (file) => {
        sparseNuls(file, GIB);
        fs.appendFileSync(file, `\n${rows}`);
      },
      {
        rows: new Map([
          ["gib-ok|job", 5],
          ["gib-ok|other", 1],
        ]),
        rejected: new Map([["line_too_long", 1]]),
        skipped: 0,
      },
      ONE_GIB_TIMEOUT_MS,
    );
    await sidecar.stop();
  });

  it("a 1 GiB file that never gets a newline is read to its end in bounded memory while another file's rows count", {
    timeout: ONE_GIB_TIMEOUT_MS,
  }, async () => {
    const aggregator = running();
    const endless = path.join(dir, "no-newline.csv");
    sparseNuls(endless, GIB);
    const other = fileOf([
      ["other-ok,job", row("other-ok", "job")],
      ["other-ok,job", row("other-ok", "job")],
      ["other", rejected("too_few_fields")],
    ]);
    const otherFile = path.join(dir, "beside-no-newline.csv");
    fs.writeFileSync(otherFile, other.content);

    const before = await aggregatorState(aggregator);
    const sidecar = await startSidecarOn("no-newline", endless);
    const beside = await startSidecarOn("beside-no-newline", otherFile);
    await waitUntilSettled(aggregator.grpcAddress, { "beside-no-newline": otherFile });
    let readBytes: number | undefined;
    await waitFor(
      async () => {
        readBytes = metricValue(await sidecar.metrics(), "logtally_sidecar_read_bytes_total");
        return readBytes === GIB ? true : undefined;
      },
      { timeoutMs: ONE_GIB_TIMEOUT_MS, intervalMs: 250, describe: () => `the sidecar to read the whole 1 GiB (read ${readBytes})` },
    );
    await assertAggregatorGained(aggregator, before, other.expected);
    await beside.assertTally(other.expected);
    await beside.assertUnharmed();
    // Not one complete line: nothing shipped, nothing counted. The sidecar may
    // be connected (4 KiB of a first line name the file), so the source may be
    // listed, but with nothing committed.
    await sidecar.assertTally(emptyExpected());
    await sidecar.assertUnharmed();
    const probe = new QueryProbe(aggregator.grpcAddress);
    try {
      const source = (await probe.listSources()).find(({ sourceId }) => sourceId === "no-newline");
      assert.ok(!source || (source.generation === "" && Number(source.committedOffset) === 0), `the aggregator counted some of it: ${JSON.stringify(source)}`);
    } finally {
      probe.close();
    }

    // When the newline comes at last, the 1 GiB line is rejected once and what follows counts.
    const afterOther = await aggregatorState(aggregator);
    fs.appendFileSync(endless, "\nlate-ok,job\nlate-ok,job\n");
    await waitUntilSettled(aggregator.grpcAddress, { "no-newline": endless });
    const late = { rows: new Map([["late-ok|job", 2]]), rejected: new Map<RejectReason, number>([["line_too_long", 1]]), skipped: 0 };
    await assertAggregatorGained(aggregator, afterOther, late);
    await sidecar.assertTally(late);
    await sidecar.assertUnharmed();
    await sidecar.stop();
    await beside.stop();
  });

  it("NUL bytes inside rows: invalid_label in a label, too_few_fields alone, ignored after the second field", async () => {
    const { content, expected } = fileOf([
      ["nul-ok,job", row("nul-ok", "job")],
      ["nul\u0000host,job", rejected("invalid_label")],
      ["nul-host,jo\u0000b", rejected("invalid_label")],
      ["\u0000nul-ok,job", rejected("invalid_label")],
      ["nul-ok,\u0000", rejected("invalid_label")],
      ['"nul\u0000quoted",job', rejected("invalid_label")],
      ["\u0000,\u0000", rejected("invalid_label")],
      ["\u0000", rejected("too_few_fields")],
      ["\u0000".repeat(4096), rejected("too_few_fields")],
      ["nul-ok,job,\u0000\u0000\u0000", row("nul-ok", "job")],
      [" nul-ok\t,\tjob ", row("nul-ok", "job")],
      ["nul-ok,job", row("nul-ok", "job")],
    ]);
    await (await shipAndCheck("nul-bytes", content, expected)).stop();
  });

  it("invalid UTF-8: invalid_utf8 in either field, ignored after the second field; a BOM is stripped only at the start of the file", async () => {
    const { content, expected } = fileOf([
      [bytes([0xef, 0xbb, 0xbf], "utf-first,job"), row("utf-first", "job")],
      ["utf-ok,job", row("utf-ok", "job")],
      [bytes("utf", [0xff], ",job"), rejected("invalid_utf8")],
      [bytes("utf,", [0xc3]), rejected("invalid_utf8")],
      [bytes([0x80], ",job"), rejected("invalid_utf8")],
      [bytes([0xc0, 0x80], ",job"), rejected("invalid_utf8")],
      [bytes([0xe0, 0x80, 0xaf], ",job"), rejected("invalid_utf8")],
      [bytes([0xed, 0xa0, 0x80], ",job"), rejected("invalid_utf8")],
      [bytes([0xf4, 0x90, 0x80, 0x80], ",job"), rejected("invalid_utf8")],
      [bytes('"utf', [0xfe], '",job'), rejected("invalid_utf8")],
      [bytes([0xff]), rejected("too_few_fields")],
      [bytes('"', [0xff]), rejected("unbalanced_quotes")],
      [bytes("utf-ok,job,", [0xff, 0xfe, 0xc0]), row("utf-ok", "job")],
      ["\u6771\u4eac-utf,job", row("\u6771\u4eac-utf", "job")],
      // Valid UTF-8, but a C1 control character and the replacement character are not label text.
      ["utf\u0085,job", rejected("invalid_label")],
      ["utf\ufffd,job", rejected("invalid_label")],
      // Past the first line a BOM is data, and a host may begin with it.
      [bytes([0xef, 0xbb, 0xbf], "utf-bom,job"), row("\ufeffutf-bom", "job")],
    ]);
    await (await shipAndCheck("invalid-utf8", content, expected)).stop();
  });

  it("CRLF mixed with LF, lone CRs and LF CR: one CR before the newline is stripped, any other is content", async () => {
    const { content, expected } = fileOf([
      ["\ufeffhost,job_name\r", "skipped"],
      ["crlf-1,job\r", row("crlf-1", "job")],
      ["crlf-1,job", row("crlf-1", "job")],
      ["crlf-1,job\r\r", rejected("invalid_label")],
      ["\r", "skipped"],
      ["", "skipped"],
      [" \t\r", "skipped"],
      ["\r\r", rejected("too_few_fields")],
      // "\n\r": the next line begins with the CR.
      ["\rcrlf-2,job", rejected("invalid_label")],
      // A lone CR ends no line: the job_name is "job\rcrlf-4".
      ["crlf-3,job\rcrlf-4,job\r", rejected("invalid_label")],
      ['"crlf-5",job\r', row("crlf-5", "job")],
      [" crlf-6 , job \r", row("crlf-6", "job")],
      ['"crlf-7\r",job\r', rejected("invalid_label")],
      ["crlf-8,\r", rejected("empty_field")],
      ["crlf-9\r", rejected("too_few_fields")],
      ["host,job_name\r", row("host", "job_name")],
    ]);
    await (await shipAndCheck("crlf-mix", content, expected)).stop();
  });

  it("200,000 distinct hosts: every one counted once, in batches cut at the pair limit", async () => {
    const hosts = 200_000;
    const expected = emptyExpected();
    for (let index = 0; index < hosts; index++) expected.rows.set(`many-${index}|job`, 1);
    const writeHosts = (file: string): void => {
      const fd = fs.openSync(file, "w");
      try {
        for (let first = 0; first < hosts; first += 50_000) {
          const lines: string[] = [];
          for (let index = first; index < first + 50_000; index++) lines.push(`many-${index},job\n`);
          fs.writeSync(fd, lines.join(""));
        }
      } finally {
        fs.closeSync(fd);
      }
    };
    const sidecar = await shipAndCheck("many-hosts", writeHosts, expected);
    const applied = metricValue(await sidecar.metrics(), "logtally_sidecar_batches_total", { outcome: "applied" }) ?? 0;
    assert.ok(applied >= hosts / MAX_DELTAS_PER_BATCH, `${applied} batches for ${hosts} pairs at most ${MAX_DELTAS_PER_BATCH} a batch`);
    await sidecar.stop();
  });
});

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { MAX_DELTAS_PER_BATCH, MAX_FILE_OFFSET_BYTES, MAX_ID_LENGTH, MAX_LABEL_BYTES } from "@logtally/proto";
import { checkIdentifier, type DeltaBatch__Output } from "@logtally/proto";
import { checkFileId, decideBatch, generationId, parseGenerationId, seriesKey, validateBatch, validateHeartbeat, type BatchDecision } from "./ledger";
import { seededRandom } from "@logtally/testing";

/** A well-formed batch: 3 counted rows and 1 rejected row in 100 bytes. */
function validBatch(overrides: Partial<DeltaBatch__Output> = {}): DeltaBatch__Output {
  return {
    sequence: 7,
    generation: "app.log#1",
    startOffset: 0,
    endOffset: 100,
    deltas: [
      { host: "web-1", jobName: "backup", count: 2, labels: [] },
      { host: "web-2", jobName: "backup", count: 1, labels: [] },
    ],
    rows: 3,
    rejected: [{ reason: "too_few_fields", count: 1 }],
    anchor: "0123456789abcdef",
    fileBirthUnixMillis: 0,
    fileSize: 0,
    filePath: "",
    ...overrides,
  };
}

test("decideBatch applies a batch that starts at the committed offset", () => {
  assert.equal(decideBatch(0, 0, 10), "apply");
  assert.equal(decideBatch(40, 40, 41), "apply");
  assert.equal(decideBatch(MAX_FILE_OFFSET_BYTES - 1, MAX_FILE_OFFSET_BYTES - 1, MAX_FILE_OFFSET_BYTES), "apply");
});

test("decideBatch calls a batch ending at or before the committed offset a duplicate", () => {
  // The exact batch that moved the offset, resent after a lost ack.
  assert.equal(decideBatch(40, 20, 40), "duplicate");
  // A batch entirely before the committed offset.
  assert.equal(decideBatch(40, 0, 10), "duplicate");
  // A second sidecar that split the same bytes differently.
  assert.equal(decideBatch(40, 10, 30), "duplicate");
  assert.equal(decideBatch(40, 0, 40), "duplicate");
});

test("decideBatch refuses gaps and overlaps as out of order", () => {
  // Gap: starts past the committed offset.
  assert.equal(decideBatch(40, 41, 50), "out_of_order");
  assert.equal(decideBatch(0, 10, 20), "out_of_order");
  // Overlap: straddles the committed offset, so part of it is already counted.
  assert.equal(decideBatch(40, 39, 41), "out_of_order");
  assert.equal(decideBatch(40, 0, 80), "out_of_order");
});

test("generationId and parseGenerationId round trip", () => {
  for (const [fileId, epoch] of [
    ["app.log", 1],
    ["dev:2049/ino:131", 42],
    ["a", 999_999_999],
    ["rotated#2", 3],
    ["ünïcødé", 7],
  ] as const) {
    const id = generationId(fileId, epoch);
    assert.equal(id, `${fileId}#${epoch}`);
    assert.deepEqual(parseGenerationId(id), { fileId, epoch });
  }
});

test("parseGenerationId splits at the last '#', so a file id may contain '#'", () => {
  assert.deepEqual(parseGenerationId("a#b#12"), { fileId: "a#b", epoch: 12 });
  assert.deepEqual(parseGenerationId("##1"), { fileId: "#", epoch: 1 });
});

test("parseGenerationId refuses malformed ids", () => {
  for (const malformed of [
    "",
    "app.log", // no '#'
    "app.log#", // no epoch
    "#1", // empty file id
    "app.log#0", // epoch 0 is never issued
    "app.log#01", // leading zero
    "app.log#007",
    "app.log#-1",
    "app.log#1.5",
    "app.log#1e3",
    "app.log# 1",
    "app.log#1 ",
    "app.log#x",
    "app.log#1#", // last '#' has no epoch after it
    "app.log#1000000000", // more than 9 digits
  ]) {
    assert.equal(parseGenerationId(malformed), undefined, `accepted ${JSON.stringify(malformed)}`);
  }
});

test("checkIdentifier enforces presence, length and characters", () => {
  assert.equal(checkIdentifier("source_id", "pod-a", { required: true }), undefined);
  assert.equal(checkIdentifier("source_id", "", { required: true }), "source_id is required");
  assert.equal(checkIdentifier("sidecar_id", "", { required: false }), undefined);
  assert.equal(checkIdentifier("file_id", "x".repeat(MAX_ID_LENGTH), { required: true }), undefined);
  assert.equal(checkIdentifier("file_id", "x".repeat(MAX_ID_LENGTH + 1), { required: true }), `file_id is longer than ${MAX_ID_LENGTH} characters`);
  for (const bad of ["a\u0000b", "tab\t", "new\nline", "del\u007f", "bad\ufffd"]) {
    assert.equal(
      checkIdentifier("source_id", bad, { required: false }),
      "source_id contains control characters or invalid UTF-8",
      `accepted ${JSON.stringify(bad)}`,
    );
  }
});

test("validateBatch accepts a well-formed batch", () => {
  assert.equal(validateBatch(validBatch()), undefined);
  // No deltas, only rejected rows; empty anchor.
  assert.equal(validateBatch(validBatch({ deltas: [], rows: 0, anchor: "" })), undefined);
  // Exactly one byte per row is the tightest fit.
  assert.equal(validateBatch(validBatch({ startOffset: 10, endOffset: 14 })), undefined);
  assert.equal(validateBatch(validBatch({ anchor: "f".repeat(64) })), undefined);
  assert.equal(validateBatch(validBatch({ startOffset: MAX_FILE_OFFSET_BYTES - 4, endOffset: MAX_FILE_OFFSET_BYTES })), undefined);
});

test("validateBatch refuses bad offsets", () => {
  assert.equal(validateBatch(validBatch({ startOffset: -1 })), "start_offset -1 is not a valid offset");
  assert.equal(validateBatch(validBatch({ startOffset: 1.5 })), "start_offset 1.5 is not a valid offset");
  assert.equal(validateBatch(validBatch({ startOffset: Number.NaN })), "start_offset NaN is not a valid offset");
  assert.equal(validateBatch(validBatch({ startOffset: 2 ** 53 })), `start_offset ${2 ** 53} is not a valid offset`);
  assert.equal(validateBatch(validBatch({ startOffset: 100, endOffset: 100 })), "end_offset 100 must be greater than start_offset 100");
  assert.equal(validateBatch(validBatch({ startOffset: 100, endOffset: 50 })), "end_offset 50 must be greater than start_offset 100");
  assert.equal(validateBatch(validBatch({ endOffset: 99.5 })), "end_offset 99.5 is not a valid offset");
  assert.equal(validateBatch(validBatch({ endOffset: 2 ** 53 + 2 })), `end_offset ${2 ** 53 + 2} is not a valid offset`);
  assert.equal(
    validateBatch(validBatch({ endOffset: MAX_FILE_OFFSET_BYTES + 1 })),
    `end_offset ${MAX_FILE_OFFSET_BYTES + 1} is beyond the largest file offset ${MAX_FILE_OFFSET_BYTES}`,
  );
});

test("validateBatch takes a file creation time or 0, nothing else", () => {
  assert.equal(validateBatch(validBatch({ fileBirthUnixMillis: 1_795_749_850_888.7925 })), undefined);
  for (const birth of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(validateBatch(validBatch({ fileBirthUnixMillis: birth })), `file_birth_unix_millis ${birth} must be a time, or 0 when unknown`);
  }
});

test("validateBatch takes a file path of up to 4096 bytes without control characters, or none", () => {
  assert.equal(validateBatch(validBatch({ filePath: "/var/log/pods/ns_web/app/0.log" })), undefined);
  assert.equal(validateBatch(validBatch({ filePath: `/${"é".repeat(2047)}` })), undefined);
  assert.equal(validateBatch(validBatch({ filePath: `/${"é".repeat(2048)}` })), "file_path is longer than 4096 bytes");
  assert.equal(validateBatch(validBatch({ filePath: "/var/log/a\nb.log" })), "file_path holds a control character");
});

test("validateBatch takes a file size, or 0 when the sidecar reports none", () => {
  for (const fileSize of [0, 100, 5_000, MAX_FILE_OFFSET_BYTES]) assert.equal(validateBatch(validBatch({ fileSize })), undefined);
  for (const fileSize of [-1, 1.5, Number.NaN, MAX_FILE_OFFSET_BYTES + 1, 2 ** 60]) {
    assert.equal(validateBatch(validBatch({ fileSize })), `file_size ${fileSize} is not a file size`);
  }
});

test("validateHeartbeat wants a generation id and a file size", () => {
  assert.equal(validateHeartbeat({ generation: "12-ab#3", fileSize: 0 }), undefined);
  assert.equal(validateHeartbeat({ generation: "12-ab#3", fileSize: 4096 }), undefined);
  assert.equal(validateHeartbeat({ generation: "", fileSize: 1 }), 'generation "" is malformed');
  assert.equal(validateHeartbeat({ generation: "12-ab", fileSize: 1 }), 'generation "12-ab" is malformed');
  assert.equal(validateHeartbeat({ generation: "12-\u0001b#1", fileSize: 1 }), "generation contains control characters or invalid UTF-8");
  assert.equal(validateHeartbeat({ generation: `${"x".repeat(MAX_ID_LENGTH)}#1`, fileSize: 1 }), `generation is longer than ${MAX_ID_LENGTH} characters`);
  assert.equal(validateHeartbeat({ generation: "12-ab#3", fileSize: -5 }), "file_size -5 is not a file size");
});

test("validateBatch limits the number of deltas", () => {
  const manyDeltas = (n: number) => Array.from({ length: n }, (_, i) => ({ host: `host-${i}`, jobName: "job", count: 1, labels: [] }));
  const atLimit = validBatch({ deltas: manyDeltas(MAX_DELTAS_PER_BATCH), rows: MAX_DELTAS_PER_BATCH, endOffset: 1_000_000 });
  assert.equal(validateBatch(atLimit), undefined);
  const overLimit = validBatch({ deltas: manyDeltas(MAX_DELTAS_PER_BATCH + 1), rows: MAX_DELTAS_PER_BATCH + 1, endOffset: 1_000_000 });
  assert.equal(validateBatch(overLimit), `${MAX_DELTAS_PER_BATCH + 1} deltas exceed the limit of ${MAX_DELTAS_PER_BATCH}`);
});

test("validateBatch refuses non-positive or non-integer delta counts", () => {
  for (const count of [0, -1, 0.5, Number.NaN, 2 ** 53]) {
    const batch = validBatch({ deltas: [{ host: "web-1", jobName: "backup", count, labels: [] }], rows: count });
    assert.equal(validateBatch(batch), `delta count ${count} must be positive`);
  }
});

test("validateBatch refuses invalid labels in host or job_name", () => {
  const cases: Array<[string, string, string]> = [
    ["", "backup", "empty_field"],
    ["web-1", "", "empty_field"],
    ["web\u0001", "backup", "invalid_label"],
    ["web-1", "back\nup", "invalid_label"],
    ["web-1", "backup\ufffd", "invalid_label"],
    ["w".repeat(MAX_LABEL_BYTES + 1), "backup", "field_too_long"],
    ["web-1", "é".repeat(MAX_LABEL_BYTES / 2 + 1), "field_too_long"],
  ];
  for (const [host, jobName, problem] of cases) {
    const batch = validBatch({ deltas: [{ host, jobName, count: 3, labels: [] }], rows: 3 });
    assert.equal(validateBatch(batch), `delta label rejected: ${problem}`, `host=${JSON.stringify(host.slice(0, 8))}`);
  }
  const longest = validBatch({ deltas: [{ host: "w".repeat(MAX_LABEL_BYTES), jobName: "backup", count: 3, labels: [] }], rows: 3 });
  assert.equal(validateBatch(longest), undefined);
});

test("validateBatch refuses a (host, job_name) pair that appears twice", () => {
  const batch = validBatch({
    deltas: [
      { host: "web-1", jobName: "backup", count: 1, labels: [] },
      { host: "web-2", jobName: "backup", count: 1, labels: [] },
      { host: "web-1", jobName: "backup", count: 1, labels: [] },
    ],
    rows: 3,
  });
  assert.equal(validateBatch(batch), "a (host, job_name) pair appears twice in one batch");
  // Same host or same job alone is not a duplicate pair.
  const distinct = validBatch({
    deltas: [
      { host: "web-1", jobName: "backup", count: 1, labels: [] },
      { host: "web-1", jobName: "restore", count: 1, labels: [] },
      { host: "web-2", jobName: "backup", count: 1, labels: [] },
    ],
    rows: 3,
  });
  assert.equal(validateBatch(distinct), undefined);
});

test("seriesKey keeps series apart that plain concatenation would merge", () => {
  assert.notEqual(seriesKey("m", ["ab", "c"]), seriesKey("m", ["a", "bc"]));
  assert.notEqual(seriesKey("m", ["a"]), seriesKey("m_a", []));
  assert.equal(seriesKey("m", ["ab", "c"]), seriesKey("m", ["ab", "c"]));
});

test("validateBatch requires rows to equal the sum of delta counts", () => {
  assert.equal(validateBatch(validBatch({ rows: 4 })), "rows 4 does not equal the sum of delta counts 3");
  assert.equal(validateBatch(validBatch({ rows: 2 })), "rows 2 does not equal the sum of delta counts 3");
  assert.equal(validateBatch(validBatch({ rows: 3.0000001 })), "rows 3.0000001 does not equal the sum of delta counts 3");
  assert.equal(validateBatch(validBatch({ deltas: [], rows: 1 })), "rows 1 does not equal the sum of delta counts 0");
});

test("validateBatch refuses bad rejected entries", () => {
  for (const count of [0, -2, 1.5]) {
    assert.equal(validateBatch(validBatch({ rejected: [{ reason: "empty_field", count }] })), `rejected count ${count} must be positive`);
  }
  assert.equal(validateBatch(validBatch({ rejected: [{ reason: "", count: 1 }] })), "rejected reason must be 1 to 64 characters");
  assert.equal(validateBatch(validBatch({ rejected: [{ reason: "r".repeat(65), count: 1 }] })), "rejected reason must be 1 to 64 characters");
  // An unknown reason is well-formed: the store folds it into "other".
  assert.equal(validateBatch(validBatch({ rejected: [{ reason: "r".repeat(64), count: 1 }] })), undefined);
});

test("validateBatch refuses more rows than the byte range can hold", () => {
  // 3 counted + 1 rejected rows need at least 4 bytes.
  assert.equal(validateBatch(validBatch({ startOffset: 10, endOffset: 13 })), "4 rows cannot fit in 3 bytes");
  assert.equal(validateBatch(validBatch({ startOffset: 0, endOffset: 5, rejected: [{ reason: "other", count: 3 }] })), "6 rows cannot fit in 5 bytes");
});

test("validateBatch refuses a malformed anchor", () => {
  for (const anchor of ["ABCDEF", "0123456789ABCDEF", "a".repeat(65), "xyz", "12 34", "0x12", "abc\n"]) {
    assert.equal(validateBatch(validBatch({ anchor })), "anchor must be at most 64 lowercase hex digits", JSON.stringify(anchor));
  }
});

// ---------------------------------------------------------------------------
// Model-based: random batch sequences from several senders against a ground
// truth of which lines were counted.

type BatchKind = "in_order" | "resend" | "overlap" | "gap" | "arbitrary";

interface SentBatch {
  readonly kind: BatchKind;
  /** Index of the first line in the batch. */
  readonly firstLine: number;
  /** Index one past the last line in the batch. */
  readonly endLine: number;
}

/**
 * One file generation: `boundaries[i]` is the byte offset where line i
 * starts, `boundaries[lines]` the end of the last complete line. The model
 * knows only how often each line was counted.
 */
class GenerationModel {
  readonly timesCounted: number[];
  committedOffset = 0;
  readonly decisions = new Map<BatchDecision, number>();

  constructor(readonly boundaries: readonly number[]) {
    this.timesCounted = new Array<number>(boundaries.length - 1).fill(0);
  }

  get lines(): number {
    return this.timesCounted.length;
  }

  /** Lines [0, n) counted; the first uncounted line is n. */
  contiguousLines(): number {
    const first = this.timesCounted.indexOf(0);
    return first === -1 ? this.lines : first;
  }

  /** What the ground truth says a batch must get, independent of decideBatch. */
  expectedDecision(batch: SentBatch): BatchDecision {
    let allCounted = true;
    for (let line = batch.firstLine; line < batch.endLine; line++) if (this.timesCounted[line] === 0) allCounted = false;
    if (allCounted) return "duplicate";
    return batch.firstLine === this.contiguousLines() ? "apply" : "out_of_order";
  }

  /** Sends a batch through the ledger rule, counting its lines if applied. */
  send(batch: SentBatch, context: string): BatchDecision {
    const startOffset = this.boundaries[batch.firstLine]!;
    const endOffset = this.boundaries[batch.endLine]!;
    const decision = decideBatch(this.committedOffset, startOffset, endOffset);
    assert.equal(decision, this.expectedDecision(batch), `${context}: ${batch.kind} [${startOffset}, ${endOffset}) at ${this.committedOffset}`);
    this.decisions.set(decision, (this.decisions.get(decision) ?? 0) + 1);
    if (decision === "apply") {
      for (let line = batch.firstLine; line < batch.endLine; line++) this.timesCounted[line]! += 1;
      this.committedOffset = endOffset;
    }
    return decision;
  }

  lineAt(offset: number): number {
    const line = this.boundaries.indexOf(offset);
    assert.ok(line >= 0, `committed offset ${offset} is not a line boundary`);
    return line;
  }
}

function randomInt(random: () => number, lowInclusive: number, highInclusive: number): number {
  return lowInclusive + Math.floor(random() * (highInclusive - lowInclusive + 1));
}

function randomBoundaries(random: () => number, lines: number): number[] {
  const boundaries = [0];
  for (let i = 0; i < lines; i++) boundaries.push(boundaries[i]! + randomInt(random, 1, 120));
  return boundaries;
}

/** Picks a batch of the given kind, or undefined when the state allows none. */
function pickBatch(random: () => number, model: GenerationModel, kind: BatchKind, history: SentBatch[]): SentBatch | undefined {
  const committedLine = model.lineAt(model.committedOffset);
  const { lines } = model;
  switch (kind) {
    case "in_order": {
      if (committedLine === lines) return undefined;
      return { kind, firstLine: committedLine, endLine: Math.min(lines, committedLine + randomInt(random, 1, 5)) };
    }
    case "resend": {
      if (history.length === 0) return undefined;
      return { ...history[randomInt(random, 0, history.length - 1)]!, kind };
    }
    case "overlap": {
      if (committedLine === 0 || committedLine === lines) return undefined;
      return { kind, firstLine: randomInt(random, 0, committedLine - 1), endLine: randomInt(random, committedLine + 1, lines) };
    }
    case "gap": {
      if (committedLine + 1 >= lines) return undefined;
      const firstLine = randomInt(random, committedLine + 1, lines - 1);
      return { kind, firstLine, endLine: randomInt(random, firstLine + 1, lines) };
    }
    case "arbitrary": {
      const firstLine = randomInt(random, 0, lines - 1);
      return { kind, firstLine, endLine: randomInt(random, firstLine + 1, lines) };
    }
  }
}

const KINDS: readonly BatchKind[] = ["in_order", "in_order", "resend", "overlap", "gap", "arbitrary"];

test("model: random batch sequences count every line exactly once", () => {
  const sequences = 400;
  const totals = new Map<BatchDecision, number>();
  for (let seed = 1; seed <= sequences; seed++) {
    const random = seededRandom(seed);
    const model = new GenerationModel(randomBoundaries(random, randomInt(random, 1, 40)));
    const history: SentBatch[] = [];
    const steps = randomInt(random, 1, 80);
    for (let step = 0; step < steps; step++) {
      const kind = KINDS[randomInt(random, 0, KINDS.length - 1)]!;
      const batch = pickBatch(random, model, kind, history);
      if (!batch) continue;
      model.send(batch, `seed ${seed} step ${step}`);
      history.push(batch);
    }

    // Mid-sequence: the committed offset is the end of the counted prefix, and
    // nothing past it was counted.
    const contiguous = model.contiguousLines();
    assert.equal(model.committedOffset, model.boundaries[contiguous], `seed ${seed}: committed offset`);
    for (let line = 0; line < model.lines; line++) {
      assert.equal(model.timesCounted[line], line < contiguous ? 1 : 0, `seed ${seed}: line ${line}`);
    }

    // A sender that re-reads from the committed offset finishes the file.
    for (let guard = 0; model.committedOffset !== model.boundaries[model.lines]; guard++) {
      assert.ok(guard <= model.lines, `seed ${seed}: no progress from ${model.committedOffset}`);
      const batch = pickBatch(random, model, "in_order", history)!;
      assert.equal(model.send(batch, `seed ${seed} drain`), "apply");
      history.push(batch);
    }
    assert.deepEqual(model.timesCounted, new Array<number>(model.lines).fill(1), `seed ${seed}: every line once`);

    // Everything resent afterwards is a duplicate and changes nothing.
    for (const batch of history) assert.equal(model.send({ ...batch, kind: "resend" }, `seed ${seed} replay`), "duplicate");
    assert.deepEqual(model.timesCounted, new Array<number>(model.lines).fill(1), `seed ${seed}: replay counted again`);

    for (const [decision, n] of model.decisions) totals.set(decision, (totals.get(decision) ?? 0) + n);
  }
  // The generator reached every decision many times, so the checks above saw each path.
  for (const decision of ["apply", "duplicate", "out_of_order"] as const) {
    assert.ok((totals.get(decision) ?? 0) > sequences, `${decision} seen only ${totals.get(decision) ?? 0} times`);
  }
});

test("checkFileId refuses what checkIdentifier refuses, and '#'", () => {
  assert.equal(checkFileId("123-abcdef"), undefined);
  assert.equal(checkFileId(""), "file_id is required");
  assert.equal(checkFileId("12#3"), "file_id must not contain '#'");
  assert.equal(checkFileId("bad\u0001"), "file_id contains control characters or invalid UTF-8");
  assert.equal(checkFileId("next\u0085line"), "file_id contains control characters or invalid UTF-8");
});

test("a batch of a stream with a spec names each series by as many label values as the metric has labels", () => {
  const spec = { metric: "http_requests", labelNames: ["method", "status"] };
  const delta = (labels: string[], count = 1) => ({ host: "", jobName: "", count, labels });
  const specBatch = (deltas: ReturnType<typeof delta>[]) => validBatch({ deltas, rows: deltas.reduce((sum, one) => sum + one.count, 0) });
  assert.equal(validateBatch(specBatch([delta(["GET", "200"], 2), delta(["GET", "500"])]), spec), undefined);
  assert.equal(validateBatch(specBatch([delta(["GET"])]), spec), "delta has 1 label values, http_requests has 2 labels");
  assert.equal(validateBatch(specBatch([delta(["GET", ""])]), spec), "delta label rejected: empty_field");
  assert.equal(validateBatch(specBatch([delta(["GET", "a\u0000b"])]), spec), "delta label rejected: invalid_label");
  assert.equal(validateBatch(specBatch([delta(["GET", "200"]), delta(["GET", "200"])]), spec), "a series of http_requests appears twice in one batch");
  assert.match(
    validateBatch(specBatch([{ ...delta(["GET", "200"]), host: "web-1" }]), spec) ?? "",
    /gives host or job_name on a stream counting http_requests/,
  );
  // A stream without a spec keeps sending pairs, and no labels.
  assert.match(validateBatch(validBatch({ deltas: [{ host: "h", jobName: "j", count: 3, labels: ["x"] }] })) ?? "", /no counting spec/);
  // A metric without labels has one series; it may appear once.
  const noLabels = { metric: "boots", labelNames: [] };
  assert.equal(validateBatch(specBatch([delta([], 3)]), noLabels), undefined);
  assert.equal(validateBatch(specBatch([delta([]), delta([])]), noLabels), "a series of boots appears twice in one batch");
});

import { DEFAULT_METRIC, MAX_DELTAS_PER_BATCH, MAX_FILE_OFFSET_BYTES, checkIdentifier, checkLabel, type CountingSpec } from "@logtally/proto";
import type { Delta__Output, DeltaBatch__Output, Heartbeat__Output } from "@logtally/proto";

/** Longest DeltaBatch.file_path, in bytes (Linux's PATH_MAX). */
const MAX_FILE_PATH_BYTES = 4096;
/** Characters no file path a sidecar reports may hold. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * The exactly-once rules, free of gRPC and SQLite so they can be tested and
 * read on their own.
 *
 * A file generation has one committed offset: every complete line before it is
 * counted, none after it. A batch is the count of the lines in
 * [start, end). The aggregator applies a batch only when it starts exactly at
 * the committed offset, so each byte range is counted once however often and
 * by however many sidecars it is shipped.
 */

/** What to do with a well-formed batch, given its generation's committed offset. */
export type BatchDecision =
  /** start == committed: count it and move the offset to end. */
  | "apply"
  /** end <= committed: already counted (a resend after a lost ack, or a second sidecar on the same file). */
  | "duplicate"
  /** Anything else (a gap, or an overlap): change nothing; the sender re-reads from committed. */
  | "out_of_order";

/** Decides a batch against the committed offset of its generation. */
export function decideBatch(committedOffset: number, startOffset: number, endOffset: number): BatchDecision {
  if (endOffset <= committedOffset) return "duplicate";
  if (startOffset === committedOffset) return "apply";
  return "out_of_order";
}

/** Separates a file id from the epoch in a generation id (`<file_id>#<epoch>`). */
const EPOCH_SEPARATOR = "#";

/** Formats the generation id of a file's epoch: `<file_id>#<epoch>`. */
export function generationId(fileId: string, epoch: number): string {
  return `${fileId}${EPOCH_SEPARATOR}${epoch}`;
}

/** Parses `<file_id>#<epoch>`; undefined when the id is not of that form. */
export function parseGenerationId(generation: string): { fileId: string; epoch: number } | undefined {
  const at = generation.lastIndexOf(EPOCH_SEPARATOR);
  if (at <= 0) return undefined;
  const epochText = generation.slice(at + 1);
  if (!/^[1-9][0-9]{0,8}$/.test(epochText)) return undefined;
  return { fileId: generation.slice(0, at), epoch: Number(epochText) };
}

/** Checks a file id: an identifier that cannot be confused with a generation id. */
export function checkFileId(fileId: string): string | undefined {
  return checkIdentifier("file_id", fileId, { required: true }) ?? (fileId.includes(EPOCH_SEPARATOR) ? "file_id must not contain '#'" : undefined);
}

const ANCHOR_PATTERN = /^[0-9a-f]{0,64}$/;

/**
 * Validates the shape of a batch of a stream that counts `spec` (undefined
 * for a stream whose Hello had none: log_host_job_count, its deltas naming
 * host and job_name); returns a message for the sender when it is malformed.
 * A malformed batch changes nothing: no honest sidecar sends one.
 */
export function validateBatch(batch: DeltaBatch__Output, spec?: CountingSpec): string | undefined {
  const { startOffset, endOffset, rows } = batch;
  if (!Number.isSafeInteger(startOffset) || startOffset < 0) return `start_offset ${startOffset} is not a valid offset`;
  if (!Number.isSafeInteger(endOffset)) return `end_offset ${endOffset} is not a valid offset`;
  if (endOffset <= startOffset) return `end_offset ${endOffset} must be greater than start_offset ${startOffset}`;
  if (endOffset > MAX_FILE_OFFSET_BYTES) return `end_offset ${endOffset} is beyond the largest file offset ${MAX_FILE_OFFSET_BYTES}`;
  if (batch.deltas.length > MAX_DELTAS_PER_BATCH) {
    return `${batch.deltas.length} deltas exceed the limit of ${MAX_DELTAS_PER_BATCH}`;
  }
  if (!ANCHOR_PATTERN.test(batch.anchor)) return "anchor must be at most 64 lowercase hex digits";
  const sizeProblem = checkFileSize(batch.fileSize);
  if (sizeProblem) return sizeProblem;
  const birth = batch.fileBirthUnixMillis;
  if (!Number.isFinite(birth) || birth < 0) return `file_birth_unix_millis ${birth} must be a time, or 0 when unknown`;
  if (Buffer.byteLength(batch.filePath) > MAX_FILE_PATH_BYTES) return `file_path is longer than ${MAX_FILE_PATH_BYTES} bytes`;
  if (CONTROL_CHARACTERS.test(batch.filePath)) return "file_path holds a control character";
  let counted = 0;
  const seen = new Set<string>();
  for (const delta of batch.deltas) {
    if (!Number.isSafeInteger(delta.count) || delta.count <= 0) return `delta count ${delta.count} must be positive`;
    const problem = spec ? checkSpecLabels(delta, spec) : checkPairLabels(delta);
    if (problem !== undefined) return problem;
    const key = spec ? seriesKey(spec.metric, delta.labels) : seriesKey(DEFAULT_METRIC, [delta.host, delta.jobName]);
    if (seen.has(key)) return spec ? `a series of ${spec.metric} appears twice in one batch` : "a (host, job_name) pair appears twice in one batch";
    seen.add(key);
    counted += delta.count;
  }
  if (!Number.isSafeInteger(rows) || rows !== counted) return `rows ${rows} does not equal the sum of delta counts ${counted}`;
  let rejected = 0;
  for (const entry of batch.rejected) {
    if (!Number.isSafeInteger(entry.count) || entry.count <= 0) return `rejected count ${entry.count} must be positive`;
    if (entry.reason.length === 0 || entry.reason.length > 64) return "rejected reason must be 1 to 64 characters";
    rejected += entry.count;
  }
  // Every line, counted or rejected, takes at least its newline byte.
  if (counted + rejected > endOffset - startOffset) {
    return `${counted + rejected} rows cannot fit in ${endOffset - startOffset} bytes`;
  }
  return undefined;
}

/** A delta of a stream without a spec: host and job_name, as from every sidecar before counting specs, and no labels. */
function checkPairLabels(delta: Delta__Output): string | undefined {
  const problem = checkLabel(delta.host) ?? checkLabel(delta.jobName);
  if (problem !== undefined) return `delta label rejected: ${problem}`;
  if (delta.labels.length > 0) return "delta labels are given on a stream whose hello named no counting spec: send host and job_name";
  return undefined;
}

/** A delta of a stream counting `spec`: one value per label name, and neither host nor job_name. */
function checkSpecLabels(delta: Delta__Output, spec: CountingSpec): string | undefined {
  if (delta.host !== "" || delta.jobName !== "") return `delta gives host or job_name on a stream counting ${spec.metric}: send labels`;
  if (delta.labels.length !== spec.labelNames.length) {
    return `delta has ${delta.labels.length} label values, ${spec.metric} has ${spec.labelNames.length} labels`;
  }
  for (const value of delta.labels) {
    const problem = checkLabel(value);
    if (problem !== undefined) return `delta label rejected: ${problem}`;
  }
  return undefined;
}

/** Validates a heartbeat; returns a message for the sender when it is malformed. */
export function validateHeartbeat(heartbeat: Heartbeat__Output): string | undefined {
  if (!parseGenerationId(heartbeat.generation)) return `generation ${JSON.stringify(heartbeat.generation.slice(0, 100))} is malformed`;
  return checkIdentifier("generation", heartbeat.generation, { required: true }) ?? checkFileSize(heartbeat.fileSize);
}

/** A reported file size: an offset, or 0 when not reported. */
function checkFileSize(fileSize: number): string | undefined {
  if (!Number.isSafeInteger(fileSize) || fileSize < 0 || fileSize > MAX_FILE_OFFSET_BYTES) {
    return `file_size ${fileSize} is not a file size`;
  }
  return undefined;
}

/**
 * Key of a series (a metric and its label values) in maps: NUL cannot occur
 * in a metric name nor in a valid label, and a metric's series all have as
 * many labels, so two series have one key only when they are the same.
 */
export function seriesKey(metric: string, labels: readonly string[]): string {
  let key = metric;
  for (const value of labels) key += `\u0000${value}`;
  return key;
}

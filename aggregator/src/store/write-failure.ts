import { status } from "@grpc/grpc-js";
import { STATE_UNWRITABLE_PREFIX } from "@logtally/proto";

/** Why commits fail for now, as the operator is told it. */
export type WriteCondition = "read-only" | "disk full" | "I/O error";

/** A commit failure the aggregator can wait out: the status Ingest answers with, and what to say. */
export interface WriteFailure {
  readonly condition: WriteCondition;
  readonly code: status;
  /** For the client and the log: what is wrong, and that nothing was counted. */
  readonly message: string;
}

/**
 * What a failed commit means, from SQLite's error code: a database that
 * cannot be written for now (read-only file or volume, full disk, I/O
 * errors) is a condition to report and wait out; anything else is a defect
 * (undefined).
 */
export function describeWriteFailure(error: unknown): WriteFailure | undefined {
  const code = String((error as { code?: unknown })?.code ?? "");
  const condition: WriteCondition | undefined = code.startsWith("SQLITE_READONLY")
    ? "read-only"
    : code === "SQLITE_FULL"
      ? "disk full"
      : code.startsWith("SQLITE_IOERR")
        ? "I/O error"
        : undefined;
  if (!condition) return undefined;
  return {
    condition,
    code: condition === "disk full" ? status.RESOURCE_EXHAUSTED : status.UNAVAILABLE,
    message: `${STATE_UNWRITABLE_PREFIX} is ${condition === "I/O error" ? "failing with I/O errors" : condition}: nothing was counted, retry later`,
  };
}

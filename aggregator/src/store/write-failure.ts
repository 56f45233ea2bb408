import { status } from "@grpc/grpc-js";
import { STATE_UNWRITABLE_PREFIX } from "@logtally/proto";
import { StatusError } from "../errors";
import { SqliteResult, sqliteResultCode } from "./sqlite-engine";

/** Why commits fail for now, as the operator is told it. */
export type WriteCondition = "read-only" | "disk full" | "I/O error" | "unreachable" | "not answering";

/** A commit failure the aggregator can wait out: the status Ingest answers with, and what to say. */
export interface WriteFailure {
  readonly condition: WriteCondition;
  readonly code: status;
  /** For the client and the log: what is wrong, and that nothing was counted. */
  readonly message: string;
}

/**
 * What a failed commit means, from the engine's error: a state that cannot
 * be written for now is a condition to report and wait out: a read-only file,
 * volume or server (a PostgreSQL hot standby), a full disk, I/O errors, a
 * database server that cannot be reached or does not answer in time.
 * Anything else is a defect (undefined).
 */
export function describeWriteFailure(error: unknown): WriteFailure | undefined {
  const condition = sqliteCondition(error) ?? postgresCondition(error);
  if (!condition) return undefined;
  const described: Record<WriteCondition, string> = {
    "read-only": "read-only",
    "disk full": "disk full",
    "I/O error": "failing with I/O errors",
    unreachable: "unreachable",
    "not answering": "not answering in time",
  };
  return {
    condition,
    code: condition === "disk full" ? status.RESOURCE_EXHAUSTED : status.UNAVAILABLE,
    message: `${STATE_UNWRITABLE_PREFIX} is ${described[condition]}: nothing was counted, retry later`,
  };
}

/** The status a client is refused with while the state cannot be written, saying why. */
export function refusalFor(failure: WriteFailure, cause?: unknown): StatusError {
  return new StatusError(failure.code, failure.message, { cause });
}

/** `error`, as the refusal it means when it is a condition to wait out (see describeWriteFailure). */
export function asRefusal(error: unknown): unknown {
  const failure = describeWriteFailure(error);
  return failure ? refusalFor(failure, error) : error;
}

function sqliteCondition(error: unknown): WriteCondition | undefined {
  const code = sqliteResultCode(error);
  if (code === SqliteResult.READONLY) return "read-only";
  if (code === SqliteResult.FULL) return "disk full";
  if (code === SqliteResult.IOERR) return "I/O error";
  return undefined;
}

/** Socket errors of a connection to the database server. */
const NETWORK_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE"]);

/**
 * From PostgreSQL's SQLSTATE (class 08: connection exception; 57P0x: the
 * server shutting down or starting; 53300: too many connections) or
 * node-postgres's own errors, which carry no code.
 */
function postgresCondition(error: unknown): WriteCondition | undefined {
  const code = String((error as { code?: unknown })?.code ?? "");
  const message = String((error as { message?: unknown })?.message ?? "");
  if (code === "25006") return "read-only";
  if (code === "53100") return "disk full";
  if (code === "57014" || /timeout exceeded when trying to connect|Query read timeout/.test(message)) return "not answering";
  if (NETWORK_ERRORS.has(code) || code.startsWith("08") || /^57P0[1-3]$/.test(code) || code === "53300") return "unreachable";
  if (/Connection terminated|connection error|Client was closed|Connection ended/i.test(message)) return "unreachable";
  return undefined;
}

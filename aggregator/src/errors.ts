import { status, type ServiceError, Metadata } from "@grpc/grpc-js";

/**
 * An error at the aggregator's gRPC boundary: carries the status sent to the
 * client and, separately, the cause that is logged but never sent.
 */
export class IngestError extends Error {
  override readonly name = "IngestError";
  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The one place a thrown value becomes a gRPC status: an IngestError keeps its
 * code and message; anything else is INTERNAL with a generic message.
 */
export function toServiceError(error: unknown): ServiceError {
  const isIngestError = error instanceof IngestError;
  const code = isIngestError ? error.code : status.INTERNAL;
  const details = isIngestError ? error.message : "internal error";
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

/** Thrown when the state directory cannot be used; main prints it and exits. */
export class StateError extends Error {
  override readonly name = "StateError";
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

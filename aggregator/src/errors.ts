import { status, type ServiceError, Metadata } from "@grpc/grpc-js";

/**
 * How a gRPC call of the aggregator ends in error, as data: the status code,
 * the message the client sees, and the cause, which is logged and never sent
 * (the line connect-es's ConnectError draws). Every service throws it; each
 * call's boundary turns whatever was thrown into one with {@link from}.
 */
export class StatusError extends Error {
  override readonly name = "StatusError";
  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `error` itself when it is a StatusError; anything else is a defect: INTERNAL, with a generic message and `error` as the cause. */
  static from(error: unknown): StatusError {
    return error instanceof StatusError ? error : new StatusError(status.INTERNAL, "internal error", { cause: error });
  }

  /** The status grpc-js sends: the code and the message, nothing of the cause. */
  toServiceError(): ServiceError {
    return Object.assign(new Error(this.message), { code: this.code, details: this.message, metadata: new Metadata() });
  }

  /** Fields to log the error with: code, message and, for a defect, the cause. */
  logFields(): Record<string, unknown> {
    return { code: status[this.code], details: this.message, ...(this.code === status.INTERNAL && this.cause !== undefined ? { err: this.cause } : {}) };
  }
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

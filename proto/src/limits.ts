/**
 * Bounds shared by both ends of the protocol. The sidecar never produces a
 * message outside them; the aggregator refuses one that is.
 */

/** Longest host or job_name value, in UTF-8 bytes. */
export const MAX_LABEL_BYTES = 1024;

/**
 * Largest file offset either end accepts (1 PiB). A batch's range has no
 * other bound: one rejected line may legitimately be a gigabyte long.
 */
export const MAX_FILE_OFFSET_BYTES = 2 ** 50;

/** Most distinct (host, job_name) pairs one batch may carry. */
export const MAX_DELTAS_PER_BATCH = 20_000;

/**
 * Requests one ingest stream may send before reading their answers: a
 * sidecar keeps up to this many batches in flight; the aggregator ends a
 * stream that holds more of it unanswered or unread.
 */
export const MAX_REQUESTS_IN_FLIGHT = 4;

/** Largest gRPC message either end accepts, in bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Longest source_id, file_id, generation or sidecar_id, in characters. */
export const MAX_ID_LENGTH = 512;

/**
 * How the aggregator's refusals begin when its state cannot be written for
 * now (read-only, disk full, I/O errors): the sidecar tells them from a lost
 * connection, and says so in its log.
 */
export const STATE_UNWRITABLE_PREFIX = "state database";

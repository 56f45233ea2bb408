// Original file: logtally/v1/ingest.proto

import type { Long } from '@grpc/proto-loader';

export interface Welcome {
  'sourceId'?: (string);
  'fileId'?: (string);
  /**
   * The generation batches for this file must name.
   */
  'generation'?: (string);
  /**
   * Byte offset up to which the file is counted; the sidecar resumes here.
   */
  'committedOffset'?: (number | string | Long);
  /**
   * Checksum of the bytes just before committed_offset, as the sidecar that
   * shipped them reported; empty at offset 0. A mismatch means the file was
   * rewritten in place.
   */
  'anchor'?: (string);
  /**
   * False when the aggregator has never applied a batch of this generation.
   */
  'known'?: (boolean);
  /**
   * When the aggregator applied the source's first batch (Unix milliseconds);
   * 0 for a new source. A source begins there: a sidecar starting up with no
   * known file in its rotation chain ships the rotated files written since,
   * and takes older ones for history from before the source was shipped.
   */
  'sourceCreatedUnixMillis'?: (number | string | Long);
}

export interface Welcome__Output {
  'sourceId': (string);
  'fileId': (string);
  /**
   * The generation batches for this file must name.
   */
  'generation': (string);
  /**
   * Byte offset up to which the file is counted; the sidecar resumes here.
   */
  'committedOffset': (number);
  /**
   * Checksum of the bytes just before committed_offset, as the sidecar that
   * shipped them reported; empty at offset 0. A mismatch means the file was
   * rewritten in place.
   */
  'anchor': (string);
  /**
   * False when the aggregator has never applied a batch of this generation.
   */
  'known': (boolean);
  /**
   * When the aggregator applied the source's first batch (Unix milliseconds);
   * 0 for a new source. A source begins there: a sidecar starting up with no
   * known file in its rotation chain ships the rotated files written since,
   * and takes older ones for history from before the source was shipped.
   */
  'sourceCreatedUnixMillis': (number);
}

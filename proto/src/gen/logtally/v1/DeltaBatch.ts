// Original file: logtally/v1/ingest.proto

import type { Delta as _logtally_v1_Delta, Delta__Output as _logtally_v1_Delta__Output } from '../../logtally/v1/Delta';
import type { RejectedRows as _logtally_v1_RejectedRows, RejectedRows__Output as _logtally_v1_RejectedRows__Output } from '../../logtally/v1/RejectedRows';
import type { Long } from '@grpc/proto-loader';

/**
 * DeltaBatch is the per-pair row count of exactly the complete lines in the
 * byte range [start_offset, end_offset) of one file generation.
 */
export interface DeltaBatch {
  /**
   * Chosen by the sidecar, echoed in the acknowledgement.
   */
  'sequence'?: (number | string | Long);
  'generation'?: (string);
  'startOffset'?: (number | string | Long);
  'endOffset'?: (number | string | Long);
  'deltas'?: (_logtally_v1_Delta)[];
  /**
   * Rows counted in the range: the sum of deltas[].count.
   */
  'rows'?: (number | string | Long);
  /**
   * Rows in the range that were not counted, by reason.
   */
  'rejected'?: (_logtally_v1_RejectedRows)[];
  /**
   * Checksum of the bytes just before end_offset (see Welcome.anchor).
   */
  'anchor'?: (string);
}

/**
 * DeltaBatch is the per-pair row count of exactly the complete lines in the
 * byte range [start_offset, end_offset) of one file generation.
 */
export interface DeltaBatch__Output {
  /**
   * Chosen by the sidecar, echoed in the acknowledgement.
   */
  'sequence': (number);
  'generation': (string);
  'startOffset': (number);
  'endOffset': (number);
  'deltas': (_logtally_v1_Delta__Output)[];
  /**
   * Rows counted in the range: the sum of deltas[].count.
   */
  'rows': (number);
  /**
   * Rows in the range that were not counted, by reason.
   */
  'rejected': (_logtally_v1_RejectedRows__Output)[];
  /**
   * Checksum of the bytes just before end_offset (see Welcome.anchor).
   */
  'anchor': (string);
}

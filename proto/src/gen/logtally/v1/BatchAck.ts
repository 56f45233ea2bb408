// Original file: logtally/v1/ingest.proto

import type { Long } from '@grpc/proto-loader';

// Original file: logtally/v1/ingest.proto

export const _logtally_v1_BatchAck_Outcome = {
  OUTCOME_UNSPECIFIED: 'OUTCOME_UNSPECIFIED',
  /**
   * Counted now.
   */
  APPLIED: 'APPLIED',
  /**
   * The range was already counted; nothing changed.
   */
  DUPLICATE: 'DUPLICATE',
  /**
   * The range does not start at the committed offset; nothing changed. The
   * sidecar must re-read from committed_offset.
   */
  OUT_OF_ORDER: 'OUT_OF_ORDER',
} as const;

export type _logtally_v1_BatchAck_Outcome =
  | 'OUTCOME_UNSPECIFIED'
  | 0
  /**
   * Counted now.
   */
  | 'APPLIED'
  | 1
  /**
   * The range was already counted; nothing changed.
   */
  | 'DUPLICATE'
  | 2
  /**
   * The range does not start at the committed offset; nothing changed. The
   * sidecar must re-read from committed_offset.
   */
  | 'OUT_OF_ORDER'
  | 3

export type _logtally_v1_BatchAck_Outcome__Output = typeof _logtally_v1_BatchAck_Outcome[keyof typeof _logtally_v1_BatchAck_Outcome]

export interface BatchAck {
  'sequence'?: (number | string | Long);
  'generation'?: (string);
  'outcome'?: (_logtally_v1_BatchAck_Outcome);
  /**
   * The generation's committed offset after this batch.
   */
  'committedOffset'?: (number | string | Long);
}

export interface BatchAck__Output {
  'sequence': (number);
  'generation': (string);
  'outcome': (_logtally_v1_BatchAck_Outcome__Output);
  /**
   * The generation's committed offset after this batch.
   */
  'committedOffset': (number);
}

// Original file: logtally/v1/query.proto

import type { Long } from '@grpc/proto-loader';

export interface SourceStatus {
  'sourceId'?: (string);
  /**
   * The generation most recently advanced.
   */
  'generation'?: (string);
  'fileId'?: (string);
  'committedOffset'?: (number | string | Long);
  /**
   * When a batch of this source was last applied or acknowledged.
   */
  'lastSeenUnixMillis'?: (number | string | Long);
  /**
   * Generations of this source seen so far (rotations, truncations).
   */
  'generations'?: (number | string | Long);
  /**
   * Sidecar streams of this source connected now.
   */
  'connectedSidecars'?: (number | string | Long);
  /**
   * The sidecar that shipped the latest batch.
   */
  'lastSidecarId'?: (string);
}

export interface SourceStatus__Output {
  'sourceId': (string);
  /**
   * The generation most recently advanced.
   */
  'generation': (string);
  'fileId': (string);
  'committedOffset': (number);
  /**
   * When a batch of this source was last applied or acknowledged.
   */
  'lastSeenUnixMillis': (number);
  /**
   * Generations of this source seen so far (rotations, truncations).
   */
  'generations': (number);
  /**
   * Sidecar streams of this source connected now.
   */
  'connectedSidecars': (number);
  /**
   * The sidecar that shipped the latest batch.
   */
  'lastSidecarId': (string);
}

// Original file: logtally/v1/ingest.proto

import type { Hello as _logtally_v1_Hello, Hello__Output as _logtally_v1_Hello__Output } from '../../logtally/v1/Hello';
import type { DeltaBatch as _logtally_v1_DeltaBatch, DeltaBatch__Output as _logtally_v1_DeltaBatch__Output } from '../../logtally/v1/DeltaBatch';

export interface ShipRequest {
  'hello'?: (_logtally_v1_Hello | null);
  'batch'?: (_logtally_v1_DeltaBatch | null);
  'message'?: "hello"|"batch";
}

export interface ShipRequest__Output {
  'hello'?: (_logtally_v1_Hello__Output | null);
  'batch'?: (_logtally_v1_DeltaBatch__Output | null);
  'message'?: "hello"|"batch";
}

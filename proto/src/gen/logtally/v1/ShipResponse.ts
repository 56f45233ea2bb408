// Original file: logtally/v1/ingest.proto

import type { Welcome as _logtally_v1_Welcome, Welcome__Output as _logtally_v1_Welcome__Output } from '../../logtally/v1/Welcome';
import type { BatchAck as _logtally_v1_BatchAck, BatchAck__Output as _logtally_v1_BatchAck__Output } from '../../logtally/v1/BatchAck';

export interface ShipResponse {
  'welcome'?: (_logtally_v1_Welcome | null);
  'ack'?: (_logtally_v1_BatchAck | null);
  'message'?: "welcome"|"ack";
}

export interface ShipResponse__Output {
  'welcome'?: (_logtally_v1_Welcome__Output | null);
  'ack'?: (_logtally_v1_BatchAck__Output | null);
  'message'?: "welcome"|"ack";
}

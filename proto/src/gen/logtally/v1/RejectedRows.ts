// Original file: logtally/v1/ingest.proto

import type { Long } from '@grpc/proto-loader';

export interface RejectedRows {
  'reason'?: (string);
  'count'?: (number | string | Long);
}

export interface RejectedRows__Output {
  'reason': (string);
  'count': (number);
}

// Original file: logtally/v1/ingest.proto

import type { Long } from '@grpc/proto-loader';

export interface Delta {
  'host'?: (string);
  'jobName'?: (string);
  'count'?: (number | string | Long);
}

export interface Delta__Output {
  'host': (string);
  'jobName': (string);
  'count': (number);
}

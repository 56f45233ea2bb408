// Original file: logtally/v1/query.proto

import type { Long } from '@grpc/proto-loader';

export interface PairCount {
  'host'?: (string);
  'jobName'?: (string);
  'count'?: (number | string | Long);
}

export interface PairCount__Output {
  'host': (string);
  'jobName': (string);
  'count': (number);
}

// Original file: logtally/v1/query.proto

import type { PairCount as _logtally_v1_PairCount, PairCount__Output as _logtally_v1_PairCount__Output } from '../../logtally/v1/PairCount';

export interface GetCountsResponse {
  'counts'?: (_logtally_v1_PairCount)[];
}

export interface GetCountsResponse__Output {
  'counts': (_logtally_v1_PairCount__Output)[];
}

// Original file: logtally/v1/query.proto

import type { SourceStatus as _logtally_v1_SourceStatus, SourceStatus__Output as _logtally_v1_SourceStatus__Output } from '../../logtally/v1/SourceStatus';

export interface ListSourcesResponse {
  'sources'?: (_logtally_v1_SourceStatus)[];
}

export interface ListSourcesResponse__Output {
  'sources': (_logtally_v1_SourceStatus__Output)[];
}

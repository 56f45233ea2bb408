import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { GetCountsRequest as _logtally_v1_GetCountsRequest, GetCountsRequest__Output as _logtally_v1_GetCountsRequest__Output } from './logtally/v1/GetCountsRequest';
import type { GetCountsResponse as _logtally_v1_GetCountsResponse, GetCountsResponse__Output as _logtally_v1_GetCountsResponse__Output } from './logtally/v1/GetCountsResponse';
import type { ListSourcesRequest as _logtally_v1_ListSourcesRequest, ListSourcesRequest__Output as _logtally_v1_ListSourcesRequest__Output } from './logtally/v1/ListSourcesRequest';
import type { ListSourcesResponse as _logtally_v1_ListSourcesResponse, ListSourcesResponse__Output as _logtally_v1_ListSourcesResponse__Output } from './logtally/v1/ListSourcesResponse';
import type { PairCount as _logtally_v1_PairCount, PairCount__Output as _logtally_v1_PairCount__Output } from './logtally/v1/PairCount';
import type { QueryClient as _logtally_v1_QueryClient, QueryDefinition as _logtally_v1_QueryDefinition } from './logtally/v1/Query';
import type { SourceStatus as _logtally_v1_SourceStatus, SourceStatus__Output as _logtally_v1_SourceStatus__Output } from './logtally/v1/SourceStatus';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  logtally: {
    v1: {
      GetCountsRequest: MessageTypeDefinition<_logtally_v1_GetCountsRequest, _logtally_v1_GetCountsRequest__Output>
      GetCountsResponse: MessageTypeDefinition<_logtally_v1_GetCountsResponse, _logtally_v1_GetCountsResponse__Output>
      ListSourcesRequest: MessageTypeDefinition<_logtally_v1_ListSourcesRequest, _logtally_v1_ListSourcesRequest__Output>
      ListSourcesResponse: MessageTypeDefinition<_logtally_v1_ListSourcesResponse, _logtally_v1_ListSourcesResponse__Output>
      PairCount: MessageTypeDefinition<_logtally_v1_PairCount, _logtally_v1_PairCount__Output>
      /**
       * Query is the read-only view of the aggregator, for people and tools such as
       * grpcurl (the server offers reflection).
       */
      Query: SubtypeConstructor<typeof grpc.Client, _logtally_v1_QueryClient> & { service: _logtally_v1_QueryDefinition }
      SourceStatus: MessageTypeDefinition<_logtally_v1_SourceStatus, _logtally_v1_SourceStatus__Output>
    }
  }
}


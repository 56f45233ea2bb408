// Original file: logtally/v1/query.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetCountsRequest as _logtally_v1_GetCountsRequest, GetCountsRequest__Output as _logtally_v1_GetCountsRequest__Output } from '../../logtally/v1/GetCountsRequest';
import type { GetCountsResponse as _logtally_v1_GetCountsResponse, GetCountsResponse__Output as _logtally_v1_GetCountsResponse__Output } from '../../logtally/v1/GetCountsResponse';
import type { ListSourcesRequest as _logtally_v1_ListSourcesRequest, ListSourcesRequest__Output as _logtally_v1_ListSourcesRequest__Output } from '../../logtally/v1/ListSourcesRequest';
import type { ListSourcesResponse as _logtally_v1_ListSourcesResponse, ListSourcesResponse__Output as _logtally_v1_ListSourcesResponse__Output } from '../../logtally/v1/ListSourcesResponse';

/**
 * Query is the read-only view of the aggregator, for people and tools such as
 * grpcurl (the server offers reflection).
 */
export interface QueryClient extends grpc.Client {
  /**
   * Counts per (host, job_name), optionally filtered; sorted by host, then job.
   */
  GetCounts(argument: _logtally_v1_GetCountsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  GetCounts(argument: _logtally_v1_GetCountsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  GetCounts(argument: _logtally_v1_GetCountsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  GetCounts(argument: _logtally_v1_GetCountsRequest, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Counts per (host, job_name), optionally filtered; sorted by host, then job.
   */
  getCounts(argument: _logtally_v1_GetCountsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  getCounts(argument: _logtally_v1_GetCountsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  getCounts(argument: _logtally_v1_GetCountsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  getCounts(argument: _logtally_v1_GetCountsRequest, callback: grpc.requestCallback<_logtally_v1_GetCountsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Every source with its most recently active file generation.
   */
  ListSources(argument: _logtally_v1_ListSourcesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  ListSources(argument: _logtally_v1_ListSourcesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  ListSources(argument: _logtally_v1_ListSourcesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  ListSources(argument: _logtally_v1_ListSourcesRequest, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Every source with its most recently active file generation.
   */
  listSources(argument: _logtally_v1_ListSourcesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  listSources(argument: _logtally_v1_ListSourcesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  listSources(argument: _logtally_v1_ListSourcesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  listSources(argument: _logtally_v1_ListSourcesRequest, callback: grpc.requestCallback<_logtally_v1_ListSourcesResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Query is the read-only view of the aggregator, for people and tools such as
 * grpcurl (the server offers reflection).
 */
export interface QueryHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Counts per (host, job_name), optionally filtered; sorted by host, then job.
   */
  GetCounts: grpc.handleUnaryCall<_logtally_v1_GetCountsRequest__Output, _logtally_v1_GetCountsResponse>;
  
  /**
   * Every source with its most recently active file generation.
   */
  ListSources: grpc.handleUnaryCall<_logtally_v1_ListSourcesRequest__Output, _logtally_v1_ListSourcesResponse>;
  
}

export interface QueryDefinition extends grpc.ServiceDefinition {
  GetCounts: MethodDefinition<_logtally_v1_GetCountsRequest, _logtally_v1_GetCountsResponse, _logtally_v1_GetCountsRequest__Output, _logtally_v1_GetCountsResponse__Output>
  ListSources: MethodDefinition<_logtally_v1_ListSourcesRequest, _logtally_v1_ListSourcesResponse, _logtally_v1_ListSourcesRequest__Output, _logtally_v1_ListSourcesResponse__Output>
}

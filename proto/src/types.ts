/** Message types generated from the .proto files (`npm run generate`). */
export type { BatchAck, BatchAck__Output } from "./gen/logtally/v1/BatchAck";
export type { Delta, Delta__Output } from "./gen/logtally/v1/Delta";
export type { DeltaBatch, DeltaBatch__Output } from "./gen/logtally/v1/DeltaBatch";
export type { Heartbeat, Heartbeat__Output } from "./gen/logtally/v1/Heartbeat";
export type { Hello, Hello__Output } from "./gen/logtally/v1/Hello";
export type { RejectedRows, RejectedRows__Output } from "./gen/logtally/v1/RejectedRows";
export type { ShipRequest, ShipRequest__Output } from "./gen/logtally/v1/ShipRequest";
export type { ShipResponse, ShipResponse__Output } from "./gen/logtally/v1/ShipResponse";
export type { Welcome, Welcome__Output } from "./gen/logtally/v1/Welcome";
export type { IngestClient, IngestHandlers } from "./gen/logtally/v1/Ingest";
export type { GetCountsRequest, GetCountsRequest__Output } from "./gen/logtally/v1/GetCountsRequest";
export type { GetCountsResponse, GetCountsResponse__Output } from "./gen/logtally/v1/GetCountsResponse";
export type { ListSourcesRequest, ListSourcesRequest__Output } from "./gen/logtally/v1/ListSourcesRequest";
export type { ListSourcesResponse, ListSourcesResponse__Output } from "./gen/logtally/v1/ListSourcesResponse";
export type { PairCount, PairCount__Output } from "./gen/logtally/v1/PairCount";
export type { SourceStatus, SourceStatus__Output } from "./gen/logtally/v1/SourceStatus";
export type { QueryClient, QueryHandlers } from "./gen/logtally/v1/Query";

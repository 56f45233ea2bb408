// Original file: logtally/v1/ingest.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ShipRequest as _logtally_v1_ShipRequest, ShipRequest__Output as _logtally_v1_ShipRequest__Output } from '../../logtally/v1/ShipRequest';
import type { ShipResponse as _logtally_v1_ShipResponse, ShipResponse__Output as _logtally_v1_ShipResponse__Output } from '../../logtally/v1/ShipResponse';

/**
 * Ingest carries delta batches from sidecars to the aggregator.
 * 
 * One stream per sidecar. The sidecar opens with a Hello naming its source and
 * the file it reads; the aggregator answers with a Welcome carrying the
 * committed offset of that file's current generation, and the sidecar seeks
 * there. Every DeltaBatch is answered by one BatchAck, sent only after the
 * batch (or the decision not to apply it) is durable.
 */
export interface IngestClient extends grpc.Client {
  Ship(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_logtally_v1_ShipRequest, _logtally_v1_ShipResponse__Output>;
  Ship(options?: grpc.CallOptions): grpc.ClientDuplexStream<_logtally_v1_ShipRequest, _logtally_v1_ShipResponse__Output>;
  ship(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_logtally_v1_ShipRequest, _logtally_v1_ShipResponse__Output>;
  ship(options?: grpc.CallOptions): grpc.ClientDuplexStream<_logtally_v1_ShipRequest, _logtally_v1_ShipResponse__Output>;
  
}

/**
 * Ingest carries delta batches from sidecars to the aggregator.
 * 
 * One stream per sidecar. The sidecar opens with a Hello naming its source and
 * the file it reads; the aggregator answers with a Welcome carrying the
 * committed offset of that file's current generation, and the sidecar seeks
 * there. Every DeltaBatch is answered by one BatchAck, sent only after the
 * batch (or the decision not to apply it) is durable.
 */
export interface IngestHandlers extends grpc.UntypedServiceImplementation {
  Ship: grpc.handleBidiStreamingCall<_logtally_v1_ShipRequest__Output, _logtally_v1_ShipResponse>;
  
}

export interface IngestDefinition extends grpc.ServiceDefinition {
  Ship: MethodDefinition<_logtally_v1_ShipRequest, _logtally_v1_ShipResponse, _logtally_v1_ShipRequest__Output, _logtally_v1_ShipResponse__Output>
}

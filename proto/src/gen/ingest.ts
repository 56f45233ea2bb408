import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { BatchAck as _logtally_v1_BatchAck, BatchAck__Output as _logtally_v1_BatchAck__Output } from './logtally/v1/BatchAck';
import type { Delta as _logtally_v1_Delta, Delta__Output as _logtally_v1_Delta__Output } from './logtally/v1/Delta';
import type { DeltaBatch as _logtally_v1_DeltaBatch, DeltaBatch__Output as _logtally_v1_DeltaBatch__Output } from './logtally/v1/DeltaBatch';
import type { Hello as _logtally_v1_Hello, Hello__Output as _logtally_v1_Hello__Output } from './logtally/v1/Hello';
import type { IngestClient as _logtally_v1_IngestClient, IngestDefinition as _logtally_v1_IngestDefinition } from './logtally/v1/Ingest';
import type { RejectedRows as _logtally_v1_RejectedRows, RejectedRows__Output as _logtally_v1_RejectedRows__Output } from './logtally/v1/RejectedRows';
import type { ShipRequest as _logtally_v1_ShipRequest, ShipRequest__Output as _logtally_v1_ShipRequest__Output } from './logtally/v1/ShipRequest';
import type { ShipResponse as _logtally_v1_ShipResponse, ShipResponse__Output as _logtally_v1_ShipResponse__Output } from './logtally/v1/ShipResponse';
import type { Welcome as _logtally_v1_Welcome, Welcome__Output as _logtally_v1_Welcome__Output } from './logtally/v1/Welcome';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  logtally: {
    v1: {
      BatchAck: MessageTypeDefinition<_logtally_v1_BatchAck, _logtally_v1_BatchAck__Output>
      Delta: MessageTypeDefinition<_logtally_v1_Delta, _logtally_v1_Delta__Output>
      DeltaBatch: MessageTypeDefinition<_logtally_v1_DeltaBatch, _logtally_v1_DeltaBatch__Output>
      Hello: MessageTypeDefinition<_logtally_v1_Hello, _logtally_v1_Hello__Output>
      /**
       * Ingest carries delta batches from sidecars to the aggregator.
       * 
       * One stream per sidecar. The sidecar opens with a Hello naming its source and
       * the file it reads; the aggregator answers with a Welcome carrying the
       * committed offset of that file's current generation, and the sidecar seeks
       * there. Every DeltaBatch is answered by one BatchAck, sent only after the
       * batch (or the decision not to apply it) is durable.
       */
      Ingest: SubtypeConstructor<typeof grpc.Client, _logtally_v1_IngestClient> & { service: _logtally_v1_IngestDefinition }
      RejectedRows: MessageTypeDefinition<_logtally_v1_RejectedRows, _logtally_v1_RejectedRows__Output>
      ShipRequest: MessageTypeDefinition<_logtally_v1_ShipRequest, _logtally_v1_ShipRequest__Output>
      ShipResponse: MessageTypeDefinition<_logtally_v1_ShipResponse, _logtally_v1_ShipResponse__Output>
      Welcome: MessageTypeDefinition<_logtally_v1_Welcome, _logtally_v1_Welcome__Output>
    }
  }
}


import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as IngestGrpcType } from "./gen/ingest";
import type { ProtoGrpcType as QueryGrpcType } from "./gen/query";

/** Directory holding `logtally/v1/*.proto`, the protocol's source of truth. */
export const PROTO_ROOT = path.resolve(__dirname, "..");

/** The proto files of logtally.v1, relative to {@link PROTO_ROOT}. */
export const PROTO_FILES = ["logtally/v1/ingest.proto", "logtally/v1/query.proto"] as const;

/**
 * Loader options, declared once: the generated types (see package.json
 * `generate`) are produced with the same choices, so they describe exactly what
 * the loaded definition decodes. 64-bit integers arrive as JS numbers; every
 * receiver checks `Number.isSafeInteger` before trusting one.
 */
export const LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
});

/** The loaded logtally.v1 services and messages, typed from the generated code. */
export type LogtallyGrpc = IngestGrpcType & QueryGrpcType;

let cachedDefinition: protoLoader.PackageDefinition | undefined;

/** Loads (once) the package definition of logtally.v1. */
export function loadLogtallyDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync([...PROTO_FILES], LOADER_OPTIONS);
  return cachedDefinition;
}

/** The logtally.v1 services and message types as grpc-js objects. */
export function loadLogtallyGrpc(): LogtallyGrpc {
  return grpc.loadPackageDefinition(loadLogtallyDefinition()) as unknown as LogtallyGrpc;
}

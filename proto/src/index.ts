/**
 * The logtally.v1 protocol: one loaded definition for servers, clients and
 * reflection; the generated message types; the label rules and limits both
 * ends enforce; the bearer token's format.
 */
export * from "./load";
export * from "./reflection";
export * from "./labels";
export * from "./counting-spec";
export * from "./limits";
export * from "./version";
export * from "./bearer-token";
export type * from "./types";

/**
 * The logtally.v1 protocol as every package uses it: one loaded definition
 * (for servers, clients and reflection alike), the generated message types,
 * and the label rules both ends enforce.
 */
export * from "./load";
export * from "./labels";
export * from "./limits";
export * from "./cli";
export type * from "./types";

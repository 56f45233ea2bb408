/**
 * What logtally's programs share: the logtally.v1 protocol (one loaded
 * definition for servers, clients and reflection; the generated message types;
 * the label rules and limits both ends enforce), and the small runtime pieces
 * every process needs (flags, JSON logs, the metrics and probe endpoint).
 */
export * from "./load";
export * from "./reflection";
export * from "./labels";
export * from "./limits";
export * from "./cli";
export * from "./http-server";
export * from "./logger";
export type * from "./types";

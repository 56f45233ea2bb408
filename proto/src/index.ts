/**
 * What logtally's programs share: the logtally.v1 protocol (one loaded
 * definition for servers, clients and reflection; the generated message types;
 * the label rules and limits both ends enforce, the bearer token), and the
 * small runtime pieces every process needs (flags, JSON logs, the metrics and
 * probe endpoint, credential files reloaded as they change).
 */
export * from "./load";
export * from "./reflection";
export * from "./labels";
export * from "./limits";
export * from "./bearer-token";
export * from "./credential-files";
export * from "./certificate-files";
export * from "./cli";
export * from "./http-server";
export * from "./logger";
export type * from "./types";

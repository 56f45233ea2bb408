/**
 * What every logtally process needs around its own work: flags, JSON logs,
 * the metrics and probe endpoint, credential files reloaded as they change,
 * stop signals, the program entry point and V8's tiering for warm code.
 */
// First: it catches SIGTERM from the moment the process starts (see stop-signals.ts).
export * from "./stop-signals";
export * from "./flags";
export * from "./run-program";
export * from "./logger";
export * from "./http-server";
export * from "./credential-files";
export * from "./certificate-files";
export * from "./v8-tiering";

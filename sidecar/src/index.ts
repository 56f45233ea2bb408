/** The logtally sidecar as a library: used by main.ts and by tests. */
export { Sidecar } from "./sidecar";
export { parseSidecarConfig, type SidecarConfig } from "./config";
export { SidecarMetrics } from "./metrics";
export { LineSplitter, type LineSink } from "./line-splitter";
export { parseRow, type ParsedRow } from "./row-parser";
export { DeltaBatcher, type SealedBatch } from "./delta-batcher";
export { injectManifests } from "./inject/manifest-injection";
export { injectPodTemplate, type PodTemplateContext, type PodTemplateInjection } from "./inject/pod-template";
export { InjectionError } from "./inject/injection-error";
export { ManifestError } from "./inject/manifest-stream";
export type { InjectionDefaults, InjectionOptions } from "./inject/sidecar-request";
export { WebhookServer, type WebhookServerOptions } from "./inject/webhook-server";
export { SIDECAR_NODE_OPTIONS } from "./node-options";

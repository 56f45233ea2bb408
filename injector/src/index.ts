/** The logtally injector as a library: used by main.ts and by tests. */
export { injectManifests } from "./manifests/manifest-injection";
export { ManifestError } from "./manifests/manifest-stream";
export { injectPodTemplate, type PodTemplateContext, type PodTemplateInjection } from "./template/pod-template";
export { InjectionError } from "./template/injection-error";
export type { InjectionDefaults, InjectionOptions } from "./template/sidecar-request";
export { WebhookServer, type WebhookServerOptions } from "./webhook/webhook-server";
export { INJECT_FLAGS } from "./manifests/inject-command";
export { WEBHOOK_FLAGS } from "./webhook/webhook-command";

import type { KubernetesObject } from "./kubernetes";

/** A kubernetes-models class: constructed from an object, `validate()` throws on a schema violation. */
interface ModelClass {
  new (data: object): { validate(): void };
}

/**
 * apiVersion/kind → its kubernetes-models class (generated from the
 * Kubernetes OpenAPI schemas). Only the kinds logtally's manifests use: any
 * other kind is an error, not a silent pass.
 */
const MODELS: Record<string, () => Promise<ModelClass>> = {
  "v1/Namespace": async () => (await import("kubernetes-models/v1/Namespace")).Namespace,
  "v1/ServiceAccount": async () => (await import("kubernetes-models/v1/ServiceAccount")).ServiceAccount,
  "v1/Service": async () => (await import("kubernetes-models/v1/Service")).Service,
  "v1/PersistentVolumeClaim": async () => (await import("kubernetes-models/v1/PersistentVolumeClaim")).PersistentVolumeClaim,
  "apps/v1/Deployment": async () => (await import("kubernetes-models/apps/v1/Deployment")).Deployment,
  "apps/v1/StatefulSet": async () => (await import("kubernetes-models/apps/v1/StatefulSet")).StatefulSet,
  "networking.k8s.io/v1/NetworkPolicy": async () => (await import("kubernetes-models/networking.k8s.io/v1/NetworkPolicy")).NetworkPolicy,
  "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": async () =>
    (await import("kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration")).MutatingWebhookConfiguration,
};

/**
 * Validates one object against the Kubernetes API schema of its kind, or, for
 * a Prometheus Operator ServiceMonitor (no schema package here), against
 * checkServiceMonitorShape. Throws with the object's identity and every
 * violation; throws for a kind it cannot validate.
 */
export async function validateObject(object: KubernetesObject): Promise<void> {
  const identity = `${object.apiVersion} ${object.kind} ${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? "(no name)"}`;
  if (object.apiVersion === "monitoring.coreos.com/v1" && object.kind === "ServiceMonitor") {
    const problems = checkServiceMonitorShape(object);
    if (problems.length > 0) throw new Error(`${identity}:\n  ${problems.join("\n  ")}`);
    return;
  }
  const load = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!load) throw new Error(`${identity}: no schema to validate this kind against`);
  const Model = await load();
  try {
    new Model(object).validate();
  } catch (error) {
    throw new Error(`${identity}: ${(error as Error).message}`);
  }
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const SERVICE_MONITOR_SPEC_FIELDS = new Set([
  "endpoints",
  "selector",
  "namespaceSelector",
  "jobLabel",
  "targetLabels",
  "podTargetLabels",
  "sampleLimit",
  "targetLimit",
  "labelLimit",
  "labelNameLengthLimit",
  "labelValueLengthLimit",
  "attachMetadata",
  "scrapeClass",
  "scrapeProtocols",
  "fallbackScrapeProtocol",
  "keepDroppedTargets",
  "bodySizeLimit",
  "selectorMechanism",
]);
const ENDPOINT_FIELDS = new Set([
  "port",
  "targetPort",
  "path",
  "scheme",
  "params",
  "interval",
  "scrapeTimeout",
  "honorLabels",
  "honorTimestamps",
  "trackTimestampsStaleness",
  "relabelings",
  "metricRelabelings",
  "tlsConfig",
  "bearerTokenSecret",
  "authorization",
  "basicAuth",
  "oauth2",
  "followRedirects",
  "enableHttp2",
  "proxyUrl",
  "filterRunning",
]);
const RELABEL_FIELDS = new Set(["sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"]);
const RELABEL_ACTIONS = new Set([
  "replace",
  "keep",
  "drop",
  "hashmod",
  "labelmap",
  "labeldrop",
  "labelkeep",
  "lowercase",
  "uppercase",
  "keepequal",
  "dropequal",
]);

/**
 * The fields of a monitoring.coreos.com/v1 ServiceMonitor that logtally uses,
 * checked by hand against the CRD's schema: known field names only, the
 * required ones present, values of the right types. Returns the problems.
 */
export function checkServiceMonitorShape(object: KubernetesObject): string[] {
  const problems: string[] = [];
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
  if (typeof object.metadata?.name !== "string" || object.metadata.name === "") problems.push("metadata.name is required");
  const spec = object.spec;
  if (!isObject(spec)) return [...problems, "spec must be an object"];
  for (const field of Object.keys(spec)) if (!SERVICE_MONITOR_SPEC_FIELDS.has(field)) problems.push(`spec.${field} is not a ServiceMonitor field`);
  if (!isObject(spec.selector)) problems.push("spec.selector is required and must be a label selector");
  else {
    for (const field of Object.keys(spec.selector))
      if (field !== "matchLabels" && field !== "matchExpressions") problems.push(`spec.selector.${field} is not a label selector field`);
    if (
      spec.selector.matchLabels !== undefined &&
      (!isObject(spec.selector.matchLabels) || Object.values(spec.selector.matchLabels).some((value) => typeof value !== "string"))
    )
      problems.push("spec.selector.matchLabels must map strings to strings");
  }
  if (spec.namespaceSelector !== undefined) {
    const namespaces = spec.namespaceSelector;
    if (!isObject(namespaces) || Object.keys(namespaces).some((field) => field !== "any" && field !== "matchNames"))
      problems.push("spec.namespaceSelector takes only any and matchNames");
    else if (namespaces.matchNames !== undefined && (!Array.isArray(namespaces.matchNames) || namespaces.matchNames.some((name) => typeof name !== "string")))
      problems.push("spec.namespaceSelector.matchNames must be a list of strings");
  }
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) return [...problems, "spec.endpoints must be a non-empty list"];
  spec.endpoints.forEach((endpoint: unknown, index) => {
    const at = `spec.endpoints[${index}]`;
    if (!isObject(endpoint)) return problems.push(`${at} must be an object`);
    for (const field of Object.keys(endpoint)) if (!ENDPOINT_FIELDS.has(field)) problems.push(`${at}.${field} is not an endpoint field`);
    if (endpoint.port !== undefined && typeof endpoint.port !== "string") problems.push(`${at}.port must be a port name`);
    if (endpoint.port === undefined && endpoint.targetPort === undefined) problems.push(`${at} needs port or targetPort`);
    for (const field of ["interval", "scrapeTimeout"])
      if (endpoint[field] !== undefined && !DURATION.test(String(endpoint[field]))) problems.push(`${at}.${field} is not a duration`);
    if (endpoint.scheme !== undefined && !["http", "https", "HTTP", "HTTPS"].includes(String(endpoint.scheme)))
      problems.push(`${at}.scheme must be http or https`);
    if (endpoint.path !== undefined && !String(endpoint.path).startsWith("/")) problems.push(`${at}.path must start with /`);
    for (const list of ["relabelings", "metricRelabelings"]) {
      const rules = endpoint[list];
      if (rules === undefined) continue;
      if (!Array.isArray(rules)) {
        problems.push(`${at}.${list} must be a list`);
        continue;
      }
      rules.forEach((rule: unknown, ruleIndex) => {
        const ruleAt = `${at}.${list}[${ruleIndex}]`;
        if (!isObject(rule)) return problems.push(`${ruleAt} must be an object`);
        for (const field of Object.keys(rule)) if (!RELABEL_FIELDS.has(field)) problems.push(`${ruleAt}.${field} is not a relabel field`);
        if (rule.action !== undefined && !RELABEL_ACTIONS.has(String(rule.action).toLowerCase()))
          problems.push(`${ruleAt}.action ${String(rule.action)} is unknown`);
        if (rule.sourceLabels !== undefined && (!Array.isArray(rule.sourceLabels) || rule.sourceLabels.some((label) => typeof label !== "string")))
          problems.push(`${ruleAt}.sourceLabels must be a list of label names`);
        return undefined;
      });
    }
    return undefined;
  });
  return problems;
}

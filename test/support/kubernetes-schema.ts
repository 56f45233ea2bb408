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
  "policy/v1/PodDisruptionBudget": async () => (await import("kubernetes-models/policy/v1/PodDisruptionBudget")).PodDisruptionBudget,
  "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": async () =>
    (await import("kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration")).MutatingWebhookConfiguration,
};

/**
 * Validates one object against the Kubernetes API schema of its kind, or, for
 * a custom resource (no schema package here), against its shape in
 * CUSTOM_RESOURCES. Throws with the object's identity and every violation;
 * throws for a kind it cannot validate.
 */
export async function validateObject(object: KubernetesObject): Promise<void> {
  const identity = `${object.apiVersion} ${object.kind} ${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? "(no name)"}`;
  if (Object.hasOwn(CUSTOM_RESOURCES, `${object.apiVersion}/${object.kind}`)) {
    const problems = checkCustomResourceShape(object);
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

/**
 * What a field must hold: a hand-written subset of a CRD's OpenAPI schema.
 * `fields` admits only the names it lists (values of those marked "any" are
 * not looked into); `check` adds a rule across fields.
 */
export type Shape =
  | "any"
  | "string"
  | "boolean"
  | "duration"
  | "quantity"
  | "path"
  | { readonly minimum: number }
  | { readonly enum: readonly string[]; readonly ignoreCase?: boolean }
  | { readonly list: Shape; readonly minItems?: number }
  | { readonly map: Shape }
  | {
      readonly fields: Readonly<Record<string, Shape>>;
      readonly required?: readonly string[];
      readonly check?: (value: Readonly<Record<string, unknown>>) => string | undefined;
    };

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The ways `value` at `at` departs from `shape`. */
export function checkShape(value: unknown, shape: Shape, at: string): string[] {
  if (shape === "any") return [];
  if (shape === "string") return typeof value === "string" ? [] : [`${at} must be a string`];
  if (shape === "boolean") return typeof value === "boolean" ? [] : [`${at} must be true or false`];
  if (shape === "duration") return typeof value === "string" && DURATION.test(value) ? [] : [`${at} is not a duration`];
  if (shape === "quantity") return typeof value === "string" && QUANTITY.test(value) ? [] : [`${at} is not a quantity`];
  if (shape === "path") return typeof value === "string" && value.startsWith("/") ? [] : [`${at} must start with /`];
  if ("minimum" in shape) return Number.isInteger(value) && (value as number) >= shape.minimum ? [] : [`${at} must be a whole number from ${shape.minimum}`];
  if ("enum" in shape) {
    const fold = (text: string): string => (shape.ignoreCase ? text.toLowerCase() : text);
    return typeof value === "string" && shape.enum.some((allowed) => fold(allowed) === fold(value))
      ? []
      : [`${at} ${String(value)} is not one of ${shape.enum.join(", ")}`];
  }
  if ("list" in shape) {
    if (!Array.isArray(value)) return [`${at} must be a list`];
    if (value.length < (shape.minItems ?? 0)) return [`${at} must have at least ${shape.minItems} item(s)`];
    return value.flatMap((item, index) => checkShape(item, shape.list, `${at}[${index}]`));
  }
  if (!isObject(value)) return [`${at} must be an object`];
  if ("map" in shape) return Object.entries(value).flatMap(([key, item]) => checkShape(item, shape.map, `${at}.${key}`));
  const problems: string[] = [];
  for (const field of shape.required ?? []) if (value[field] === undefined) problems.push(`${at}.${field} is required`);
  for (const [field, item] of Object.entries(value)) {
    const fieldShape = shape.fields[field];
    if (fieldShape === undefined) problems.push(`${at}.${field} is not a known field`);
    else problems.push(...checkShape(item, fieldShape, `${at}.${field}`));
  }
  const crossField = shape.check?.(value);
  return crossField ? [...problems, `${at}: ${crossField}`] : problems;
}

/** `names`, each holding `shape`. */
function fieldsOf(shape: Shape, ...names: string[]): Record<string, Shape> {
  return Object.fromEntries(names.map((name) => [name, shape]));
}

const STRINGS: Shape = { list: "string" };
const LABEL_SELECTOR: Shape = { fields: { matchLabels: { map: "string" }, matchExpressions: { list: "any" } } };
/** monitoring.coreos.com RelabelConfig (the action's case is free). */
const RELABELINGS: Shape = {
  list: {
    fields: {
      sourceLabels: STRINGS,
      separator: "string",
      targetLabel: "string",
      regex: "string",
      modulus: { minimum: 0 },
      replacement: "string",
      action: {
        enum: ["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal"],
        ignoreCase: true,
      },
    },
  },
};
const SCHEME: Shape = { enum: ["http", "https", "HTTP", "HTTPS"] };
const RESOURCES: Shape = { fields: { requests: { map: "any" }, limits: { map: "any" }, claims: "any" } };
const VOLUME: Shape = { fields: { size: "quantity", storageClass: "string", resizeInUseVolumes: "boolean", pvcTemplate: "any" } };

/** The spec of a monitoring.coreos.com/v1 ServiceMonitor, from the CRD. */
const SERVICE_MONITOR: Shape = {
  required: ["selector", "endpoints"],
  fields: {
    endpoints: {
      minItems: 1,
      list: {
        check: (endpoint) => (endpoint.port === undefined && endpoint.targetPort === undefined ? "needs port or targetPort" : undefined),
        fields: {
          ...fieldsOf("boolean", "honorLabels", "honorTimestamps", "trackTimestampsStaleness", "followRedirects", "enableHttp2", "filterRunning"),
          ...fieldsOf("any", "targetPort", "params", "tlsConfig", "bearerTokenSecret", "authorization", "basicAuth", "oauth2", "proxyUrl"),
          port: "string",
          path: "path",
          scheme: SCHEME,
          interval: "duration",
          scrapeTimeout: "duration",
          relabelings: RELABELINGS,
          metricRelabelings: RELABELINGS,
        },
      },
    },
    selector: LABEL_SELECTOR,
    namespaceSelector: { fields: { any: "boolean", matchNames: STRINGS } },
    ...fieldsOf("any", "jobLabel", "targetLabels", "podTargetLabels", "sampleLimit", "targetLimit", "labelLimit", "labelNameLengthLimit"),
    ...fieldsOf("any", "labelValueLengthLimit", "attachMetadata", "scrapeClass", "scrapeProtocols", "fallbackScrapeProtocol", "keepDroppedTargets"),
    ...fieldsOf("any", "bodySizeLimit", "selectorMechanism"),
  },
};

/** The spec of a monitoring.coreos.com/v1alpha1 ScrapeConfig with static targets, from the CRD (service discovery fields are not admitted). */
const SCRAPE_CONFIG: Shape = {
  fields: {
    jobName: "string",
    staticConfigs: { list: { required: ["targets"], fields: { targets: { list: "string", minItems: 1 }, labels: { map: "string" } } } },
    scheme: SCHEME,
    metricsPath: "path",
    scrapeInterval: "duration",
    scrapeTimeout: "duration",
    relabelings: RELABELINGS,
    metricRelabelings: RELABELINGS,
    ...fieldsOf("boolean", "honorLabels", "honorTimestamps", "trackTimestampsStaleness", "enableCompression", "enableHTTP2"),
    ...fieldsOf("any", "params", "scrapeClass", "scrapeProtocols", "fallbackScrapeProtocol", "sampleLimit", "targetLimit", "labelLimit"),
    ...fieldsOf("any", "keepDroppedTargets", "bodySizeLimit", "tlsConfig", "authorization", "basicAuth", "oauth2", "proxyUrl"),
  },
};

/** The spec of a postgresql.cnpg.io/v1 Cluster (CloudNativePG), the fields an example uses, from the CRD. */
const CNPG_CLUSTER: Shape = {
  required: ["instances"],
  fields: {
    instances: { minimum: 1 },
    description: "string",
    imageName: "string",
    bootstrap: {
      fields: {
        initdb: {
          fields: {
            database: "string",
            owner: "string",
            secret: { required: ["name"], fields: { name: "string" } },
            ...fieldsOf("any", "encoding", "locale", "dataChecksums", "postInitApplicationSQL", "postInitSQL"),
          },
        },
        ...fieldsOf("any", "recovery", "pg_basebackup"),
      },
    },
    storage: VOLUME,
    walStorage: VOLUME,
    enableSuperuserAccess: "boolean",
    enablePDB: "boolean",
    primaryUpdateStrategy: { enum: ["unsupervised", "supervised"] },
    primaryUpdateMethod: { enum: ["switchover", "restart"] },
    resources: RESOURCES,
    ...fieldsOf("any", "postgresql", "affinity", "topologySpreadConstraints", "monitoring", "backup", "managed", "inheritedMetadata"),
  },
};

/** Custom resources by apiVersion/kind: the shape of their spec. */
const CUSTOM_RESOURCES: Readonly<Record<string, Shape>> = {
  "monitoring.coreos.com/v1/ServiceMonitor": SERVICE_MONITOR,
  "monitoring.coreos.com/v1alpha1/ScrapeConfig": SCRAPE_CONFIG,
  "postgresql.cnpg.io/v1/Cluster": CNPG_CLUSTER,
};

/**
 * The ways a custom resource logtally's manifests use (a ServiceMonitor, a
 * ScrapeConfig, a CloudNativePG Cluster) departs from its CRD's schema:
 * known field names only, the required ones present, values of the right
 * types. Throws for a kind it has no shape for.
 */
export function checkCustomResourceShape(object: KubernetesObject): string[] {
  const shape = CUSTOM_RESOURCES[`${object.apiVersion}/${object.kind}`];
  if (!shape) throw new Error(`${object.apiVersion} ${object.kind}: no shape to check`);
  const problems = typeof object.metadata?.name === "string" && object.metadata.name !== "" ? [] : ["metadata.name is required"];
  return [...problems, ...checkShape(object.spec, shape, "spec")];
}

/**
 * The parts of Kubernetes objects the manifest tests read, and the few API
 * semantics they need to evaluate (label selectors, `$(VAR)` expansion,
 * NetworkPolicy admission). Shapes are checked by validateObject against the
 * API schemas first, so these types describe objects known to be well-formed.
 */

/** `key: value` labels or annotations. */
export type StringMap = Record<string, string>;

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: StringMap;
  readonly annotations?: StringMap;
}

/** Any rendered object. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  readonly values?: string[];
}

export interface LabelSelector {
  readonly matchLabels?: StringMap;
  readonly matchExpressions?: LabelSelectorRequirement[];
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string } };
}

export interface Probe {
  readonly grpc?: { readonly port: number; readonly service?: string };
  readonly httpGet?: { readonly path?: string; readonly port: number | string; readonly scheme?: string };
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
  readonly timeoutSeconds?: number;
}

export interface SecurityContext {
  readonly runAsNonRoot?: boolean;
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  readonly fsGroup?: number;
  readonly privileged?: boolean;
  readonly allowPrivilegeEscalation?: boolean;
  readonly readOnlyRootFilesystem?: boolean;
  readonly capabilities?: { readonly add?: string[]; readonly drop?: string[] };
  readonly seccompProfile?: { readonly type: string };
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly subPath?: string;
  readonly readOnly?: boolean;
}

export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol?: string;
}

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly args?: string[];
  readonly command?: string[];
  readonly env?: EnvVar[];
  readonly ports?: ContainerPort[];
  readonly restartPolicy?: string;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly startupProbe?: Probe;
  readonly resources?: { readonly requests?: StringMap; readonly limits?: StringMap };
  readonly securityContext?: SecurityContext;
  readonly volumeMounts?: VolumeMount[];
}

export interface Volume {
  readonly name: string;
  readonly emptyDir?: object;
  readonly persistentVolumeClaim?: { readonly claimName: string };
  readonly secret?: { readonly secretName: string; readonly items?: ReadonlyArray<{ readonly key: string; readonly path: string }> };
}

export interface TopologySpreadConstraint {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly whenUnsatisfiable: "DoNotSchedule" | "ScheduleAnyway";
  readonly labelSelector?: LabelSelector;
  readonly matchLabelKeys?: string[];
}

export interface PodSpec {
  readonly containers: Container[];
  readonly initContainers?: Container[];
  readonly volumes?: Volume[];
  readonly securityContext?: SecurityContext;
  readonly terminationGracePeriodSeconds?: number;
  readonly serviceAccountName?: string;
  readonly automountServiceAccountToken?: boolean;
  readonly topologySpreadConstraints?: TopologySpreadConstraint[];
}

export interface PodTemplate {
  readonly metadata?: ObjectMeta;
  readonly spec: PodSpec;
}

/** The workload kinds that carry a pod template. */
export interface Workload extends KubernetesObject {
  readonly kind: "Deployment" | "StatefulSet";
  readonly spec: {
    readonly replicas?: number;
    readonly selector: LabelSelector;
    readonly template: PodTemplate;
    readonly strategy?: { readonly type?: string; readonly rollingUpdate?: { readonly maxUnavailable?: number | string; readonly maxSurge?: number | string } };
    readonly serviceName?: string;
    readonly podManagementPolicy?: string;
    readonly updateStrategy?: { readonly type?: string; readonly rollingUpdate?: { readonly partition?: number; readonly maxUnavailable?: number | string } };
    readonly volumeClaimTemplates?: Array<{ readonly metadata: ObjectMeta; readonly spec: { readonly accessModes?: string[] } }>;
  };
}

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  readonly targetPort?: number | string;
}

export interface Service extends KubernetesObject {
  readonly kind: "Service";
  readonly spec: { readonly selector?: StringMap; readonly ports?: ServicePort[]; readonly clusterIP?: string };
}

export interface PodDisruptionBudget extends KubernetesObject {
  readonly kind: "PodDisruptionBudget";
  readonly spec: {
    readonly selector?: LabelSelector;
    readonly minAvailable?: number | string;
    readonly maxUnavailable?: number | string;
    readonly unhealthyPodEvictionPolicy?: string;
  };
}

export interface NetworkPolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: { readonly cidr: string };
}

export interface NetworkPolicy extends KubernetesObject {
  readonly kind: "NetworkPolicy";
  readonly spec: {
    readonly podSelector: LabelSelector;
    readonly policyTypes?: string[];
    readonly ingress?: Array<{ readonly from?: NetworkPolicyPeer[]; readonly ports?: Array<{ readonly port?: number | string; readonly protocol?: string }> }>;
  };
}

/** Objects of one kind, typed by the caller. */
export function ofKind<T extends KubernetesObject>(objects: readonly KubernetesObject[], kind: T["kind"]): T[] {
  return objects.filter((object) => object.kind === kind) as T[];
}

/** The one object of `kind` named `name`; throws naming what was there instead. */
export function named<T extends KubernetesObject>(objects: readonly KubernetesObject[], kind: T["kind"], name: string): T {
  const found = ofKind<T>(objects, kind).filter((object) => object.metadata.name === name);
  if (found.length !== 1) {
    const present = ofKind(objects, kind).map((object) => `${object.metadata.namespace ?? ""}/${object.metadata.name}`);
    throw new Error(`expected one ${kind} ${name}, found ${found.length} (${kind}s: ${present.join(", ") || "none"})`);
  }
  return found[0]!;
}

/** Deployments and StatefulSets. */
export function workloads(objects: readonly KubernetesObject[]): Workload[] {
  return objects.filter((object) => object.kind === "Deployment" || object.kind === "StatefulSet") as Workload[];
}

/** Whether `selector` selects `labels` (an empty selector selects everything). */
export function selectorMatches(selector: LabelSelector, labels: StringMap = {}): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const matched =
      operator === "In"
        ? has && values.includes(labels[key]!)
        : operator === "NotIn"
          ? !has || !values.includes(labels[key]!)
          : operator === "Exists"
            ? has
            : !has;
    if (!matched) return false;
  }
  return true;
}

/**
 * Resolves a container's environment as the kubelet does: values from the
 * downward API come from `pod`, and `$(NAME)` in a value is replaced by a
 * variable defined earlier in the list (`$$` is a literal `$`; an unknown
 * reference stays as written).
 */
export function resolveEnv(env: readonly EnvVar[], pod: { name: string; namespace: string }): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const variable of env) {
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    if (fieldPath === "metadata.name") resolved[variable.name] = pod.name;
    else if (fieldPath === "metadata.namespace") resolved[variable.name] = pod.namespace;
    else if (variable.valueFrom) throw new Error(`env ${variable.name}: unsupported valueFrom ${JSON.stringify(variable.valueFrom)}`);
    else resolved[variable.name] = expandReferences(variable.value ?? "", resolved);
  }
  return resolved;
}

function expandReferences(value: string, defined: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([^)]*)\)/g, (match: string, name: string | undefined) => {
    if (match === "$$") return "$";
    return name !== undefined && Object.hasOwn(defined, name) ? defined[name]! : match;
  });
}

/** Where a connection to a pod comes from, for NetworkPolicy evaluation. */
export type Peer =
  | { readonly kind: "pod"; readonly namespace: string; readonly namespaceLabels: StringMap; readonly podLabels: StringMap }
  | { readonly kind: "external" };

/**
 * Whether `policy` admits a TCP connection from `peer` to `port` of a pod it
 * selects in its namespace (`portNames` maps the pod's named ports). An
 * ipBlock is taken to admit every source, pods included: the tests ask "could
 * this reach the port", so an ipBlock must never appear where that is wrong.
 */
export function admits(policy: NetworkPolicy, peer: Peer, port: number, portNames: Record<string, number>): boolean {
  for (const rule of policy.spec.ingress ?? []) {
    const ports = rule.ports ?? [];
    const portMatches =
      ports.length === 0 ||
      ports.some(
        ({ port: rulePort, protocol = "TCP" }) =>
          protocol === "TCP" && (rulePort === undefined || rulePort === port || (typeof rulePort === "string" && portNames[rulePort] === port)),
      );
    if (!portMatches) continue;
    const from = rule.from ?? [];
    if (from.length === 0) return true;
    for (const source of from) {
      if (source.ipBlock) return true;
      if (peer.kind !== "pod") continue;
      const namespaceOk = source.namespaceSelector
        ? selectorMatches(source.namespaceSelector, peer.namespaceLabels)
        : peer.namespace === policy.metadata.namespace;
      const podOk = source.podSelector ? selectorMatches(source.podSelector, peer.podLabels) : true;
      if (namespaceOk && podOk) return true;
    }
  }
  return false;
}

/** A container's named ports. */
export function portNames(containers: readonly Container[]): Record<string, number> {
  const names: Record<string, number> = {};
  for (const container of containers) for (const port of container.ports ?? []) if (port.name) names[port.name] = port.containerPort;
  return names;
}

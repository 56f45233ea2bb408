import { isJsonObject, type JsonObject, type JsonValue } from "./json-value";
import type { PodTemplateContext } from "./pod-template";

/** A path inside a document: map keys and list indexes. */
export type NodePath = ReadonlyArray<string | number>;

/** A pod template found in a Kubernetes object. */
export interface PodTemplateLocation extends PodTemplateContext {
  /** Where the template sits in the object: `["spec", "template"]`, `[]` for a Pod. */
  readonly path: NodePath;
  readonly template: JsonObject;
}

/** Where each workload kind keeps its pod template, by `group/kind` (the core group is ""). */
const TEMPLATE_PATHS: ReadonlyMap<string, NodePath> = new Map<string, NodePath>([
  ["apps/Deployment", ["spec", "template"]],
  ["apps/StatefulSet", ["spec", "template"]],
  ["apps/DaemonSet", ["spec", "template"]],
  ["apps/ReplicaSet", ["spec", "template"]],
  ["batch/Job", ["spec", "template"]],
  ["batch/CronJob", ["spec", "jobTemplate", "spec", "template"]],
  ["/Pod", []],
]);

/**
 * The pod templates of a Kubernetes object: one for a workload (Deployment,
 * StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod), those of its items
 * for a List, none for anything else. The API group is checked, so a custom
 * resource that happens to be called `Job` is not taken for one.
 */
export function findPodTemplates(object: JsonValue, at: NodePath = []): PodTemplateLocation[] {
  if (!isJsonObject(object) || typeof object.kind !== "string" || typeof object.apiVersion !== "string") return [];
  const group = object.apiVersion.includes("/") ? object.apiVersion.slice(0, object.apiVersion.indexOf("/")) : "";
  if (group === "" && object.kind === "List") {
    const items = Array.isArray(object.items) ? object.items : [];
    return items.flatMap((item, index) => findPodTemplates(item, [...at, "items", index]));
  }
  const templatePath = TEMPLATE_PATHS.get(`${group}/${object.kind}`);
  if (!templatePath) return [];
  const template = valueAt(object, templatePath);
  if (!isJsonObject(template)) return [];
  return [
    {
      path: [...at, ...templatePath],
      template,
      workload: `${object.kind}/${nameOf(object)}`,
      perPodVolumes: object.kind === "StatefulSet" ? claimTemplateNames(object) : podClaimsOfStatefulSet(object),
    },
  ];
}

function valueAt(object: JsonObject, path: NodePath): JsonValue | undefined {
  let value: JsonValue | undefined = object;
  for (const key of path) value = isJsonObject(value) ? value[key] : undefined;
  return value;
}

/** The object's name; a pod created by a controller may only have a generateName yet. */
function nameOf(object: JsonObject): string {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  if (typeof metadata.name === "string" && metadata.name !== "") return metadata.name;
  if (typeof metadata.generateName === "string" && metadata.generateName !== "") return `${metadata.generateName}*`;
  return "(unnamed)";
}

/** Names of a StatefulSet's volumeClaimTemplates: its pods mount them by these names, one claim per pod. */
function claimTemplateNames(statefulSet: JsonObject): ReadonlySet<string> {
  const templates = valueAt(statefulSet, ["spec", "volumeClaimTemplates"]);
  const names = (Array.isArray(templates) ? templates : []).map((claim) => (isJsonObject(claim) ? valueAt(claim, ["metadata", "name"]) : undefined));
  return new Set(names.filter((name): name is string => typeof name === "string"));
}

/**
 * For a Pod a StatefulSet created: its volumes that come from the set's
 * volumeClaimTemplates. The controller names each such claim
 * `<volume>-<pod>`, so the claim is this pod's alone, as it is when the
 * StatefulSet itself is injected.
 */
function podClaimsOfStatefulSet(object: JsonObject): ReadonlySet<string> {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
  const ownedBySet = owners.some((owner) => isJsonObject(owner) && owner.kind === "StatefulSet" && owner.controller === true);
  if (object.kind !== "Pod" || !ownedBySet || typeof metadata.name !== "string") return new Set();
  const volumes = valueAt(object, ["spec", "volumes"]);
  const perPod = new Set<string>();
  for (const volume of Array.isArray(volumes) ? volumes : []) {
    if (!isJsonObject(volume) || typeof volume.name !== "string") continue;
    if (valueAt(volume, ["persistentVolumeClaim", "claimName"]) === `${volume.name}-${metadata.name}`) perPod.add(volume.name);
  }
  return perPod;
}

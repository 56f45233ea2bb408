import {
  KUBERNETES_DEFAULT_GRACE_SECONDS,
  LOG_VOLUME_NAME,
  MIN_GRACE_SECONDS,
  SIDECAR_CONTAINER_NAME,
  SIDECAR_LABEL,
  SIDECAR_LABEL_VALUE,
  TOKEN_SECRET_KEY,
  TOKEN_VOLUME_NAME,
} from "./contract";
import { InjectionError } from "./injection-error";
import { checkSourceId } from "./injection-values";
import { isJsonObject, type JsonObject } from "./json-value";
import { locateLogVolume } from "./log-volume";
import { buildSidecarContainer } from "./sidecar-container";
import { optsIn, readSidecarRequest, type InjectionOptions } from "./sidecar-request";

/** Where a pod template sits, for messages and for what its volumes mean. */
export interface PodTemplateContext {
  /** `Kind/name` of the object holding the template. */
  readonly workload: string;
  /** Volumes that are claims of one pod only (a StatefulSet's volumeClaimTemplates): the file on them is the pod's own. */
  readonly perPodVolumes: ReadonlySet<string>;
}

/** Outcome of {@link injectPodTemplate}. */
export type PodTemplateInjection =
  | { readonly changed: false; readonly reason: "not opted in" | "already injected" }
  | { readonly changed: true; readonly template: JsonObject; readonly sourceId: string };

/**
 * Adds the logtally sidecar to a pod template (`{ metadata, spec }`, or a
 * whole Pod) that opts in and does not have it yet. Pure: `template` is left
 * as it is and the injected copy returned. Throws InjectionError, naming the
 * workload, when the template asks for the sidecar but cannot have it.
 */
export function injectPodTemplate(template: JsonObject, options: InjectionOptions, context: PodTemplateContext): PodTemplateInjection {
  const { workload } = context;
  if (!optsIn(template.metadata, options.all, workload)) return { changed: false, reason: "not opted in" };
  const injected = structuredClone(template);
  const spec = injected.spec;
  if (!isJsonObject(spec)) throw new InjectionError(workload, "the pod template has no spec");
  const initContainers = namedContainers(spec, "initContainers", workload);
  // The contract's idempotence rule: a template with the sidecar is left exactly as it is.
  if (initContainers.some((container) => container.name === SIDECAR_CONTAINER_NAME)) return { changed: false, reason: "already injected" };
  const containers = namedContainers(spec, "containers", workload);
  if (containers.length === 0) throw new InjectionError(workload, "the pod template has no containers");
  if (containers.some((container) => container.name === SIDECAR_CONTAINER_NAME)) {
    throw new InjectionError(workload, `an app container is already named "${SIDECAR_CONTAINER_NAME}"`);
  }

  const request = readSidecarRequest(template.metadata, options, workload);
  const volume = locateLogVolume(spec, containers, request.logPath, context.perPodVolumes, workload);
  const sourceId = request.sourceId ?? volume.sourceId;
  const problem = checkSourceId(`the source id ${JSON.stringify(sourceId)}`, sourceId);
  if (problem) throw new InjectionError(workload, problem);

  const logMount = volume.kind === "mounted" ? volume.sidecarMount : { name: LOG_VOLUME_NAME, mountPath: volume.directory, readOnly: true };
  const withToken = request.tokenSecret !== undefined;
  spec.initContainers = [...initContainers, buildSidecarContainer({ ...request, sourceId, logMount, withToken })];
  if (volume.kind === "unmounted") addLogVolume(spec, containers, volume.directory, workload);
  if (request.tokenSecret !== undefined) addTokenVolume(spec, request.tokenSecret, workload);
  const grace = graceSeconds(spec, workload);
  if (grace < MIN_GRACE_SECONDS) spec.terminationGracePeriodSeconds = MIN_GRACE_SECONDS;
  addSidecarLabel(injected, workload);
  return { changed: true, template: injected, sourceId };
}

/** `spec[key]` as a list of containers that have names; [] when absent. */
function namedContainers(spec: JsonObject, key: "containers" | "initContainers", workload: string): JsonObject[] {
  const list = spec[key] ?? [];
  if (!Array.isArray(list) || !list.every((container) => isJsonObject(container) && typeof container.name === "string")) {
    throw new InjectionError(workload, `spec.${key} must be a list of containers, each with a name`);
  }
  return list as JsonObject[];
}

/** Adds the emptyDir that will hold the log file and mounts it at `directory` in every app container. */
function addLogVolume(spec: JsonObject, containers: readonly JsonObject[], directory: string, workload: string): void {
  if (directory === "/") throw new InjectionError(workload, "no volume holds the log file, and an emptyDir cannot be mounted at /");
  const volumes = spec.volumes ?? [];
  if (!Array.isArray(volumes)) throw new InjectionError(workload, "spec.volumes must be a list");
  if (volumes.some((volume) => isJsonObject(volume) && volume.name === LOG_VOLUME_NAME)) {
    throw new InjectionError(workload, `no container mounts a volume holding the log file, yet a volume "${LOG_VOLUME_NAME}" exists`);
  }
  spec.volumes = [...volumes, { name: LOG_VOLUME_NAME, emptyDir: {} }];
  for (const container of containers) {
    // locateLogVolume found no mount holding the file, so no container mounts `directory` yet.
    const mounts = Array.isArray(container.volumeMounts) ? container.volumeMounts : [];
    container.volumeMounts = [...mounts, { name: LOG_VOLUME_NAME, mountPath: directory }];
  }
}

/**
 * Adds the token's Secret as a volume holding only its key `token`. A missing
 * Secret keeps the pod from starting (the volume is not optional): a sidecar
 * without its token would only be refused by the aggregator.
 */
function addTokenVolume(spec: JsonObject, secretName: string, workload: string): void {
  const volumes = spec.volumes ?? [];
  if (!Array.isArray(volumes)) throw new InjectionError(workload, "spec.volumes must be a list");
  if (volumes.some((volume) => isJsonObject(volume) && volume.name === TOKEN_VOLUME_NAME)) {
    throw new InjectionError(workload, `a volume "${TOKEN_VOLUME_NAME}" exists already; the token's Secret cannot be mounted`);
  }
  spec.volumes = [...volumes, { name: TOKEN_VOLUME_NAME, secret: { secretName, items: [{ key: TOKEN_SECRET_KEY, path: TOKEN_SECRET_KEY }] } }];
}

/** The template's grace period in seconds, Kubernetes' default when unset. */
function graceSeconds(spec: JsonObject, workload: string): number {
  const grace = spec.terminationGracePeriodSeconds ?? KUBERNETES_DEFAULT_GRACE_SECONDS;
  if (typeof grace !== "number" || !Number.isSafeInteger(grace) || grace < 0) {
    throw new InjectionError(workload, `spec.terminationGracePeriodSeconds must be a whole number of seconds, got ${JSON.stringify(grace)}`);
  }
  return grace;
}

/** Labels the pod as running the sidecar (the NetworkPolicy and the webhook's objectSelector read it). */
function addSidecarLabel(template: JsonObject, workload: string): void {
  const metadata = template.metadata ?? {};
  if (!isJsonObject(metadata)) throw new InjectionError(workload, "the pod template's metadata must be a map");
  const labels = metadata.labels ?? {};
  if (!isJsonObject(labels)) throw new InjectionError(workload, "metadata.labels must be a map");
  labels[SIDECAR_LABEL] = SIDECAR_LABEL_VALUE;
  metadata.labels = labels;
  template.metadata = metadata;
}

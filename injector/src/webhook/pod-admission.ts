import type { AdmissionRequest } from "./admission-review";
import { InjectionError } from "../template/injection-error";
import { diffJson, type JsonPatchOperation } from "./json-patch";
import { isJsonObject } from "../template/json-value";
import { injectPodTemplate } from "../template/pod-template";
import type { InjectionDefaults } from "../template/sidecar-request";
import { findPodTemplates } from "../template/workloads";

/** What the webhook does with one admission request. */
export type PodAdmission =
  /** The pod gets the sidecar: `patch` turns the admitted pod into the injected one. */
  | { readonly outcome: "injected"; readonly pod: string; readonly patch: readonly JsonPatchOperation[]; readonly sourceId: string }
  /** Nothing to do: not a pod being created, not opted in, or already injected. */
  | { readonly outcome: "skipped"; readonly reason: string }
  /** The pod asked for the sidecar but cannot have it; it is admitted unchanged with `warning`. */
  | { readonly outcome: "refused"; readonly pod: string; readonly warning: string };

/**
 * Decides what to do with a pod being created, as `logtally-injector inject`
 * would for the same pod. Pure; never refuses admission itself: a pod that
 * cannot be injected is still admitted, only without the sidecar.
 */
export function admitPod(request: AdmissionRequest, defaults: InjectionDefaults): PodAdmission {
  if (request.resource !== "/pods" || request.subResource) return { outcome: "skipped", reason: "not a pod" };
  if (request.operation !== "CREATE") return { outcome: "skipped", reason: `operation ${request.operation ?? "(none)"}` };
  if (!isJsonObject(request.object)) return { outcome: "skipped", reason: "no pod in the request" };
  const pod = request.object;
  // The API server sends the kind along; default it so a bare pod object is found all the same.
  const [location] = findPodTemplates({ apiVersion: "v1", kind: "Pod", ...pod });
  if (!location) return { outcome: "skipped", reason: "not a pod" };
  try {
    const injection = injectPodTemplate(pod, { ...defaults, all: false }, location);
    if (!injection.changed) return { outcome: "skipped", reason: injection.reason };
    return { outcome: "injected", pod: location.workload, patch: diffJson(pod, injection.template), sourceId: injection.sourceId };
  } catch (error) {
    if (!(error instanceof InjectionError)) throw error;
    return { outcome: "refused", pod: location.workload, warning: `logtally sidecar not injected: ${error.message}` };
  }
}

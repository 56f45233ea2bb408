import * as path from "node:path";
import { claimSourceId, podSourceId } from "./contract";
import { InjectionError } from "./injection-error";
import { isJsonObject, type JsonObject } from "./json-value";

/**
 * Where a pod's log file lives, and so what the sidecar mounts and which
 * source id counts the file once.
 */
export type LogVolume =
  /** An app container mounts a volume holding the file: the sidecar mounts the same, read-only. */
  | { readonly kind: "mounted"; readonly sidecarMount: JsonObject; readonly sourceId: string }
  /** No volume holds the file: an emptyDir is to be mounted at `directory` in every app container. */
  | { readonly kind: "unmounted"; readonly directory: string; readonly sourceId: string };

/** One volumeMount of an app container. */
interface AppMount {
  readonly container: string;
  readonly name: string;
  readonly mountPath: string;
  readonly subPath: string | undefined;
  readonly subPathExpr: string | undefined;
}

/**
 * Finds the volume holding `logPath`: the mount, across the app containers,
 * whose mountPath is the longest prefix of the path (the first such mount on a
 * tie). `perPodVolumes` names volumes that look like claims but belong to one
 * pod (a StatefulSet's volumeClaimTemplates). Throws InjectionError when a
 * mount is malformed or names a volume the pod does not define.
 */
export function locateLogVolume(
  spec: JsonObject,
  containers: readonly JsonObject[],
  logPath: string,
  perPodVolumes: ReadonlySet<string>,
  workload: string,
): LogVolume {
  let holding: AppMount | undefined;
  let holdingDepth = -1;
  for (const mount of appMounts(containers, workload)) {
    const depth = prefixLength(mount.mountPath, logPath);
    if (depth > holdingDepth) {
      holding = mount;
      holdingDepth = depth;
    }
  }
  if (!holding) return { kind: "unmounted", directory: path.posix.dirname(logPath), sourceId: podSourceId(logPath) };

  const sidecarMount: JsonObject = { name: holding.name, mountPath: holding.mountPath };
  if (holding.subPath !== undefined) sidecarMount.subPath = holding.subPath;
  if (holding.subPathExpr !== undefined) sidecarMount.subPathExpr = holding.subPathExpr;
  sidecarMount.readOnly = true;
  return { kind: "mounted", sidecarMount, sourceId: sourceIdOf(spec, holding, logPath, perPodVolumes, workload) };
}

/** Source id of the file on the volume of `mount`: one for every pod on a shared claim, else the pod's own. */
function sourceIdOf(spec: JsonObject, mount: AppMount, logPath: string, perPodVolumes: ReadonlySet<string>, workload: string): string {
  if (perPodVolumes.has(mount.name)) return podSourceId(logPath);
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  const volume = volumes.find((candidate) => isJsonObject(candidate) && candidate.name === mount.name);
  if (!isJsonObject(volume)) {
    throw new InjectionError(workload, `container "${mount.container}" mounts volume "${mount.name}", which spec.volumes does not define`);
  }
  const claim = volume.persistentVolumeClaim;
  if (!isJsonObject(claim)) return podSourceId(logPath);
  if (typeof claim.claimName !== "string" || claim.claimName === "") {
    throw new InjectionError(workload, `volume "${mount.name}" has no persistentVolumeClaim.claimName`);
  }
  const inVolume = path.posix.join(mount.subPath ?? mount.subPathExpr ?? "", path.posix.relative(mount.mountPath, logPath));
  return claimSourceId(claim.claimName, path.posix.normalize(inVolume).replace(/^\/+/, ""));
}

/** Every volumeMount of the app containers, in order. */
function appMounts(containers: readonly JsonObject[], workload: string): AppMount[] {
  const mounts: AppMount[] = [];
  for (const container of containers) {
    const name = String(container.name);
    const volumeMounts = container.volumeMounts ?? [];
    if (!Array.isArray(volumeMounts)) throw new InjectionError(workload, `container "${name}": volumeMounts must be a list`);
    for (const mount of volumeMounts) {
      if (!isJsonObject(mount) || typeof mount.name !== "string" || typeof mount.mountPath !== "string") {
        throw new InjectionError(workload, `container "${name}": every volumeMount needs a name and a mountPath`);
      }
      mounts.push({
        container: name,
        name: mount.name,
        mountPath: mount.mountPath,
        subPath: typeof mount.subPath === "string" && mount.subPath !== "" ? mount.subPath : undefined,
        subPathExpr: typeof mount.subPathExpr === "string" && mount.subPathExpr !== "" ? mount.subPathExpr : undefined,
      });
    }
  }
  return mounts;
}

/**
 * Length of `mountPath` when it holds `file` (is the file itself or one of its
 * directories, compared by whole segments), else -1.
 */
function prefixLength(mountPath: string, file: string): number {
  const directory = path.posix.normalize(mountPath).replace(/(.)\/+$/, "$1");
  if (file === directory) return directory.length;
  return file.startsWith(directory === "/" ? "/" : `${directory}/`) ? directory.length : -1;
}

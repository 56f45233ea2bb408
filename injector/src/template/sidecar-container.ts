import { SIDECAR_CONTAINER_NAME, SIDECAR_HTTP_PORT, SIDECAR_HTTP_PORT_NAME, TOKEN_MOUNT_PATH, TOKEN_SECRET_KEY, TOKEN_VOLUME_NAME } from "./contract";
import type { JsonObject } from "./json-value";

/** What varies between injected sidecars. */
export interface SidecarContainerSpec {
  readonly image: string;
  readonly logPath: string;
  readonly aggregator: string;
  readonly sourceId: string;
  /** The read-only mount of the volume holding the log file. */
  readonly logMount: JsonObject;
  /** Whether the token's Secret is mounted (as volume TOKEN_VOLUME_NAME) for the sidecar to present. */
  readonly withToken: boolean;
  /** What the sidecar counts, when the pod's annotations say (LOGTALLY_FORMAT, LOGTALLY_METRIC, …). */
  readonly countingEnv: ReadonlyArray<{ readonly name: string; readonly value: string }>;
}

/**
 * The sidecar as a native sidecar (an init container with restartPolicy
 * Always), exactly as the contract describes it. Every call builds new
 * objects, so nothing is shared between pod templates.
 */
export function buildSidecarContainer({ image, logPath, aggregator, sourceId, logMount, withToken, countingEnv }: SidecarContainerSpec): JsonObject {
  const healthz = (): JsonObject => ({ path: "/healthz", port: SIDECAR_HTTP_PORT_NAME });
  const tokenEnv = withToken ? [{ name: "LOGTALLY_TOKEN_FILE", value: `${TOKEN_MOUNT_PATH}/${TOKEN_SECRET_KEY}` }] : [];
  const tokenMount = withToken ? [{ name: TOKEN_VOLUME_NAME, mountPath: TOKEN_MOUNT_PATH, readOnly: true }] : [];
  return {
    name: SIDECAR_CONTAINER_NAME,
    image,
    restartPolicy: "Always",
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "LOGTALLY_FILE", value: logPath },
      { name: "LOGTALLY_AGGREGATOR", value: aggregator },
      // After POD_NAMESPACE and POD_NAME, so that Kubernetes expands $(...) in it.
      { name: "LOGTALLY_SOURCE_ID", value: sourceId },
      { name: "LOGTALLY_METRICS_LISTEN", value: `0.0.0.0:${SIDECAR_HTTP_PORT}` },
      ...countingEnv.map((variable) => ({ ...variable })),
      ...tokenEnv,
    ],
    ports: [{ name: SIDECAR_HTTP_PORT_NAME, containerPort: SIDECAR_HTTP_PORT }],
    startupProbe: { httpGet: healthz(), periodSeconds: 2, failureThreshold: 30 },
    // No readinessProbe: a native sidecar's readiness gates the pod's, and an
    // aggregator outage must not take the application out of service.
    livenessProbe: { httpGet: healthz(), periodSeconds: 10, failureThreshold: 3 },
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [{ ...logMount }, ...tokenMount],
  };
}

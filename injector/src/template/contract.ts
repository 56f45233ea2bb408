/**
 * Names and values fixed by the logtally Kubernetes contract: what the
 * injected sidecar looks like and which annotations ask for it. The manifests
 * rely on the same names (the NetworkPolicy selects the sidecar label, the
 * webhook's objectSelector skips pods that carry it).
 */

/** Annotations read on a pod template's metadata (a bare Pod's own metadata). */
export const ANNOTATIONS = {
  /** "true" opts in; "false" opts out even of `--all`. */
  inject: "logtally.io/inject",
  /** The log file the sidecar tails; absolute. */
  logPath: "logtally.io/log-path",
  /** Used verbatim as the source id instead of the one derived from the volume. */
  sourceId: "logtally.io/source-id",
  image: "logtally.io/image",
  aggregator: "logtally.io/aggregator",
  /** A Secret in the pod's namespace whose key `token` is the bearer token the sidecar presents. */
  tokenSecret: "logtally.io/token-secret",
  /** What the sidecar counts, as its flags of the same names say (unset: log_host_job_count of a host,job_name CSV). */
  format: "logtally.io/format",
  delimiter: "logtally.io/delimiter",
  metric: "logtally.io/metric",
  /** `NAME=FIELD` entries separated by commas, as LOGTALLY_LABELS. */
  labels: "logtally.io/labels",
  /** `FIELD=VALUE` or `FIELD=~REGEX` entries, one per line, as LOGTALLY_WHERE. */
  where: "logtally.io/where",
} as const;

/** The sidecar's environment variable for each counting annotation. */
export const COUNTING_ENV = {
  format: "LOGTALLY_FORMAT",
  delimiter: "LOGTALLY_DELIMITER",
  metric: "LOGTALLY_METRIC",
  labels: "LOGTALLY_LABELS",
  where: "LOGTALLY_WHERE",
} as const;

/** Pod label that marks a pod as running the sidecar. */
export const SIDECAR_LABEL = "logtally.io/sidecar";
export const SIDECAR_LABEL_VALUE = "true";

/** Name of the injected init container; its presence means "already injected". */
export const SIDECAR_CONTAINER_NAME = "logtally-sidecar";

export const DEFAULT_LOG_PATH = "/var/log/app/log.csv";
export const DEFAULT_SIDECAR_IMAGE = "ghcr.io/logtally/logtally-sidecar:0.1.0";
export const DEFAULT_AGGREGATOR_ADDRESS = "logtally-aggregator.logtally.svc:50051";

/** The emptyDir added when no volume holds the log file. */
export const LOG_VOLUME_NAME = "logtally-log";

/** The Secret volume holding the bearer token, when one is asked for. */
export const TOKEN_VOLUME_NAME = "logtally-token";
/** Where the sidecar mounts the token's Secret, read-only. */
export const TOKEN_MOUNT_PATH = "/var/run/secrets/logtally";
/** The key of the token in its Secret, and so the file's name in the mount. */
export const TOKEN_SECRET_KEY = "token";

/** The sidecar's own HTTP port (/metrics, /healthz, /readyz). */
export const SIDECAR_HTTP_PORT = 9465;
export const SIDECAR_HTTP_PORT_NAME = "lt-sidecar-http";

/** What Kubernetes uses when a pod sets no terminationGracePeriodSeconds. */
export const KUBERNETES_DEFAULT_GRACE_SECONDS = 30;

/**
 * Smallest grace period of an injected pod: the sidecar drains for up to 25 s
 * after its SIGTERM, which a native sidecar receives only once the app
 * containers have exited.
 */
export const MIN_GRACE_SECONDS = 40;

/**
 * Source id of a file only this pod writes: Kubernetes expands the variables
 * because POD_NAMESPACE and POD_NAME come earlier in the sidecar's env.
 */
export function podSourceId(logPath: string): string {
  return `$(POD_NAMESPACE)/$(POD_NAME):${logPath}`;
}

/**
 * Source id of a file on a shared PersistentVolumeClaim: the same for every
 * pod that mounts the claim, so the file is counted once however many
 * replicas read it. `pathInVolume` has no leading slash.
 */
export function claimSourceId(claimName: string, pathInVolume: string): string {
  return `$(POD_NAMESPACE)/pvc/${claimName}/${pathInVolume}`;
}

import * as os from "node:os";
import { MAX_REQUESTS_IN_FLIGHT, checkIdentifier } from "@logtally/proto";
import {
  ConfigError,
  formatHelp,
  credentialsReloadFlag,
  LOG_LEVEL_FLAG,
  parseFlags,
  parseListenAddress,
  parseLogLevel,
  type FlagSpec,
  type ListenAddress,
  type LOG_LEVELS,
} from "@logtally/runtime";
import { COUNTING_FLAGS, parseCountingRules } from "./counting-flags";
import type { CountingRules } from "./parse/counting-rules";

export const SIDECAR_FLAGS = [
  { name: "file", env: "LOGTALLY_FILE", default: "/var/log/app/log.csv", description: "The log file to tail: CSV or JSON lines (see --format)." },
  {
    name: "aggregator",
    env: "LOGTALLY_AGGREGATOR",
    default: "logtally-aggregator:50051",
    description: "host:port of the aggregator's gRPC server.",
  },
  {
    name: "source-id",
    env: "LOGTALLY_SOURCE_ID",
    description:
      "What is counted once. Default: <POD_NAMESPACE>/<POD_NAME>:<file>, or <hostname>:<file> outside Kubernetes. " +
      "Sidecars reading one shared file must all be given the same source id.",
  },
  {
    name: "sidecar-id",
    env: "LOGTALLY_SIDECAR_ID",
    description: "Names this process in the aggregator's source list. Default: POD_NAME, or the hostname.",
  },
  {
    name: "metrics-listen",
    env: "LOGTALLY_METRICS_LISTEN",
    description: "host:port for the sidecar's own /metrics, /healthz and /readyz. Off unless set.",
  },
  ...COUNTING_FLAGS,
  {
    name: "max-line-bytes",
    env: "LOGTALLY_MAX_LINE_BYTES",
    default: "65536",
    range: [256, 16 * 1024 * 1024],
    description: "Longer lines are not counted (rejected as line_too_long); also the memory held for a partial line.",
  },
  {
    name: "batch-max-bytes",
    env: "LOGTALLY_BATCH_MAX_BYTES",
    default: "8388608",
    range: [4096, 256 * 1024 * 1024],
    description: "A batch is shipped once it covers this many bytes of the file (or the reader caught up).",
  },
  {
    name: "batch-linger-ms",
    env: "LOGTALLY_BATCH_LINGER_MS",
    default: "400",
    range: [0, 10_000],
    description:
      "Once the reader has caught up with the file, how long a batch waits for more lines before it is shipped " +
      "(a full batch, and a drain, ship at once). Fewer, larger batches cost less CPU on both sides; 0 ships at once.",
  },
  {
    name: "batches-in-flight",
    env: "LOGTALLY_BATCHES_IN_FLIGHT",
    default: "2",
    range: [1, MAX_REQUESTS_IN_FLIGHT],
    description:
      "Batches shipped and awaiting their acknowledgement, at most. While behind its file, the sidecar reads and " +
      "sends the next batch while the aggregator commits the last: more is faster on a big file, at a higher peak of memory.",
  },
  {
    name: "read-buffer-bytes",
    env: "LOGTALLY_READ_BUFFER_BYTES",
    default: "1048576",
    range: [4096, 64 * 1024 * 1024],
    description: "Bytes read from the file at a time.",
  },
  {
    name: "poll-interval-ms",
    env: "LOGTALLY_POLL_INTERVAL_MS",
    default: "250",
    range: [10, 60_000],
    description: "How often the file is checked for growth when no change notification arrives (network filesystems send none).",
  },
  {
    name: "rotate-grace-ms",
    env: "LOGTALLY_ROTATE_GRACE_MS",
    default: "1000",
    range: [0, 60_000],
    description: "After the file is renamed away, how long late writes to the old file are still read before moving on.",
  },
  {
    name: "max-rotated-files",
    env: "LOGTALLY_MAX_ROTATED_FILES",
    default: "5",
    range: [0, 100],
    description: "Rotated files (<file>.1 ... <file>.N) checked for rows not yet shipped.",
  },
  {
    name: "ack-timeout-ms",
    env: "LOGTALLY_ACK_TIMEOUT_MS",
    default: "30000",
    range: [100, 600_000],
    description: "How long to wait for the aggregator's answer before reconnecting.",
  },
  {
    name: "drain-timeout-ms",
    env: "LOGTALLY_DRAIN_TIMEOUT_MS",
    default: "25000",
    range: [0, 3_600_000],
    description: "On SIGTERM, how long to keep shipping up to the end of the file before exiting anyway.",
  },
  {
    name: "tls",
    switch: true,
    description: "Connect over TLS, trusting the system's root certificates unless --tls-ca names others. Any other --tls-* flag implies it.",
  },
  { name: "tls-ca", env: "LOGTALLY_TLS_CA", description: "PEM CA certificates the aggregator's certificate must chain to (implies --tls)." },
  {
    name: "tls-cert",
    env: "LOGTALLY_TLS_CERT",
    description: "PEM client certificate presented to an aggregator that requires mutual TLS (implies --tls; with --tls-key).",
  },
  { name: "tls-key", env: "LOGTALLY_TLS_KEY", description: "PEM private key of --tls-cert." },
  {
    name: "tls-server-name",
    env: "LOGTALLY_TLS_SERVER_NAME",
    description: "Name the aggregator's certificate must carry, when it is not the host of --aggregator (implies --tls).",
  },
  {
    name: "token-file",
    env: "LOGTALLY_TOKEN_FILE",
    description: "File whose first line is the bearer token sent to the aggregator; read again on every reconnect. Off unless set.",
  },
  credentialsReloadFlag("the TLS files are"),
  LOG_LEVEL_FLAG,
] as const satisfies ReadonlyArray<FlagSpec>;

type FlagName = (typeof SIDECAR_FLAGS)[number]["name"];

/** How the sidecar reaches the aggregator over TLS. */
export interface ClientTlsConfig {
  /** CA certificates to trust; undefined: the system's roots. */
  readonly caFile: string | undefined;
  /** A client certificate for mutual TLS; undefined: none. */
  readonly identity: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** Name to check the aggregator's certificate for; undefined: the host of the aggregator's address. */
  readonly serverName: string | undefined;
}

/** The sidecar's configuration, parsed once at start-up. */
export interface SidecarConfig {
  readonly file: string;
  readonly aggregator: string;
  readonly sourceId: string;
  readonly sidecarId: string;
  readonly metricsListen: ListenAddress | undefined;
  /** What is counted and how lines are read (--format, --delimiter, --metric, --label, --where). */
  readonly counting: CountingRules;
  readonly maxLineBytes: number;
  readonly batchMaxBytes: number;
  readonly batchLingerMs: number;
  readonly batchesInFlight: number;
  readonly readBufferBytes: number;
  readonly pollIntervalMs: number;
  readonly rotateGraceMs: number;
  readonly maxRotatedFiles: number;
  readonly ackTimeoutMs: number;
  readonly drainTimeoutMs: number;
  /** Undefined: plaintext. */
  readonly tls: ClientTlsConfig | undefined;
  /** Undefined: no token is sent. */
  readonly tokenFile: string | undefined;
  readonly credentialsReloadMs: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

/** `--help` text. */
export const SIDECAR_HELP = formatHelp(
  "logtally-sidecar [options]",
  "Tails one log file (CSV or JSON lines) and ships row deltas to the logtally aggregator, per distinct\n" +
    "tuple of label values (by default log_host_job_count{host, job_name}, from columns 1 and 2),\n" +
    "resuming from the aggregator's committed offset. It exposes no counts itself.\n\n" +
    "To add it to Kubernetes pods: logtally-sidecar inject --help, logtally-sidecar webhook --help.",
  SIDECAR_FLAGS,
);

/**
 * Parses flags > environment > defaults into a frozen config; "help" when
 * --help was asked for. Throws ConfigError naming a bad flag.
 */
export function parseSidecarConfig(argv: string[], env: NodeJS.ProcessEnv): SidecarConfig | "help" {
  const parsed = parseFlags(SIDECAR_FLAGS, argv, env);
  if (parsed.help) return "help";
  const values = parsed.values as Record<FlagName, string | undefined>;
  const { labels, integer } = parsed;
  const required = (name: FlagName): string => values[name]!;
  const identifier = (name: FlagName, value: string): string => {
    const problem = checkIdentifier(labels[name], value, { required: true });
    if (problem) throw new ConfigError(problem);
    return value;
  };
  const file = required("file");
  if (file.length === 0) throw new ConfigError(`${labels.file}: must not be empty`);
  // Kubernetes sets these from the downward API; an empty value means unset.
  const podName = env.POD_NAME || undefined;
  const podNamespace = env.POD_NAMESPACE || "default";
  const sourceId = values["source-id"] ?? (podName ? `${podNamespace}/${podName}:${file}` : `${os.hostname()}:${file}`);
  return Object.freeze({
    file,
    aggregator: required("aggregator"),
    sourceId: identifier("source-id", sourceId),
    sidecarId: identifier("sidecar-id", values["sidecar-id"] ?? podName ?? os.hostname()),
    metricsListen: values["metrics-listen"] ? parseListenAddress(labels["metrics-listen"], values["metrics-listen"]) : undefined,
    counting: parseCountingRules(parsed),
    maxLineBytes: integer("max-line-bytes"),
    batchMaxBytes: integer("batch-max-bytes"),
    batchLingerMs: integer("batch-linger-ms"),
    batchesInFlight: integer("batches-in-flight"),
    readBufferBytes: integer("read-buffer-bytes"),
    pollIntervalMs: integer("poll-interval-ms"),
    rotateGraceMs: integer("rotate-grace-ms"),
    maxRotatedFiles: integer("max-rotated-files"),
    ackTimeoutMs: integer("ack-timeout-ms"),
    drainTimeoutMs: integer("drain-timeout-ms"),
    tls: parseClientTls(values, labels),
    tokenFile: values["token-file"] || undefined,
    credentialsReloadMs: integer("credentials-reload-ms"),
    logLevel: parseLogLevel(labels["log-level"], required("log-level")),
  });
}

function parseClientTls(values: Readonly<Record<FlagName, string | undefined>>, labels: Readonly<Record<FlagName, string>>): ClientTlsConfig | undefined {
  const given = (name: FlagName): string | undefined => values[name] || undefined;
  const [caFile, certFile, keyFile, serverName] = [given("tls-ca"), given("tls-cert"), given("tls-key"), given("tls-server-name")];
  if (values.tls === undefined && !caFile && !certFile && !keyFile && !serverName) return undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError(`${labels["tls-cert"]} and ${labels["tls-key"]} must be given together`);
  return Object.freeze({
    caFile,
    identity: certFile && keyFile ? Object.freeze({ certFile, keyFile }) : undefined,
    serverName,
  });
}

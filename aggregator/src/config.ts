import {
  formatHelp,
  parseFlags,
  parseIntegerFlag,
  parseListenAddress,
  parseLogLevel,
  type FlagSpec,
  type ListenAddress,
  type LOG_LEVELS,
} from "@logtally/proto";

const FLAGS = [
  {
    name: "grpc-listen",
    env: "LOGTALLY_GRPC_LISTEN",
    default: "0.0.0.0:50051",
    description: "Address of the gRPC server (Ingest, Query, Health, reflection). Port 0 picks a free port.",
  },
  {
    name: "metrics-listen",
    env: "LOGTALLY_METRICS_LISTEN",
    default: "0.0.0.0:9464",
    description: "Address of the HTTP server: /metrics (Prometheus), /healthz, /readyz, and a status page at /.",
  },
  {
    name: "state-dir",
    env: "LOGTALLY_STATE_DIR",
    default: "./logtally-data",
    description: "Directory of the durable state (SQLite database logtally.db). Keep it on a persistent volume.",
  },
  {
    name: "shutdown-grace-ms",
    env: "LOGTALLY_SHUTDOWN_GRACE_MS",
    default: "5000",
    description: "On SIGTERM, how long open calls may take to finish before they are cancelled.",
  },
  {
    name: "heartbeat-interval-ms",
    env: "LOGTALLY_HEARTBEAT_INTERVAL_MS",
    default: "10000",
    description: "How often sidecars with nothing to ship report that they are alive and their file's size (told to them on connect).",
  },
  {
    name: "watch-buffer-bytes",
    env: "LOGTALLY_WATCH_BUFFER_BYTES",
    default: "16777216",
    description: "Changes queued for one WatchCounts stream beyond this many bytes end it with RESOURCE_EXHAUSTED.",
  },
  {
    name: "log-level",
    env: "LOGTALLY_LOG_LEVEL",
    default: "info",
    description: "One of fatal, error, warn, info, debug, trace. Logs are JSON lines on stderr.",
  },
] as const satisfies ReadonlyArray<FlagSpec>;

/** The aggregator's configuration, parsed once at start-up. */
export interface AggregatorConfig {
  readonly grpcListen: ListenAddress;
  readonly metricsListen: ListenAddress;
  readonly stateDir: string;
  readonly shutdownGraceMs: number;
  readonly heartbeatIntervalMs: number;
  readonly watchBufferBytes: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

/** `--help` text. */
export const AGGREGATOR_HELP = formatHelp(
  "logtally-aggregator [options]",
  "Applies delta batches from logtally sidecars exactly once into durable counts and serves them\n" +
    "as log_host_job_count on /metrics. Run exactly one replica.",
  FLAGS,
);

/**
 * Parses flags > environment > defaults into a frozen config; returns
 * "help" when --help was asked for. Throws ConfigError naming a bad flag.
 */
export function parseAggregatorConfig(argv: string[], env: NodeJS.ProcessEnv): AggregatorConfig | "help" {
  const parsed = parseFlags(FLAGS, argv, env);
  if (parsed.help) return "help";
  const values = parsed.values as Record<(typeof FLAGS)[number]["name"], string>;
  const { labels } = parsed;
  return Object.freeze({
    grpcListen: parseListenAddress(labels["grpc-listen"], values["grpc-listen"]),
    metricsListen: parseListenAddress(labels["metrics-listen"], values["metrics-listen"]),
    stateDir: values["state-dir"],
    shutdownGraceMs: parseIntegerFlag(labels["shutdown-grace-ms"], values["shutdown-grace-ms"], 0, 600_000),
    heartbeatIntervalMs: parseIntegerFlag(labels["heartbeat-interval-ms"], values["heartbeat-interval-ms"], 100, 3_600_000),
    watchBufferBytes: parseIntegerFlag(labels["watch-buffer-bytes"], values["watch-buffer-bytes"], 1024, 1024 * 1024 * 1024),
    logLevel: parseLogLevel(labels["log-level"], values["log-level"]),
  });
}

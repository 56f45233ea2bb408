import * as fs from "node:fs";
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

export const AGGREGATOR_FLAGS = [
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
    name: "store",
    env: "LOGTALLY_STORE",
    default: "sqlite",
    description:
      "Where the state is kept. sqlite: the embedded database in --state-dir, for one replica. " +
      "postgres://USER@HOST:PORT/DATABASE: a PostgreSQL database any number of replicas share; give the password " +
      "in --store-file or PGPASSWORD, never here.",
  },
  {
    name: "store-file",
    env: "LOGTALLY_STORE_FILE",
    description: "File holding the --store URL, password included (a mounted Secret). Takes the place of --store.",
  },
  {
    name: "shutdown-grace-ms",
    env: "LOGTALLY_SHUTDOWN_GRACE_MS",
    default: "5000",
    range: [0, 600_000],
    description: "On SIGTERM, how long open calls may take to finish before they are cancelled.",
  },
  {
    name: "heartbeat-interval-ms",
    env: "LOGTALLY_HEARTBEAT_INTERVAL_MS",
    default: "10000",
    range: [100, 3_600_000],
    description: "How often sidecars with nothing to ship report that they are alive and their file's size (told to them on connect).",
  },
  {
    name: "watch-buffer-bytes",
    env: "LOGTALLY_WATCH_BUFFER_BYTES",
    default: "16777216",
    range: [1024, 1024 * 1024 * 1024],
    description: "Changes queued for one WatchCounts stream beyond this many bytes end it with RESOURCE_EXHAUSTED.",
  },
  {
    name: "tls-cert",
    env: "LOGTALLY_TLS_CERT",
    description: "PEM certificate (chain) of the gRPC server. With --tls-key, gRPC is served over TLS only; without, in plaintext.",
  },
  { name: "tls-key", env: "LOGTALLY_TLS_KEY", description: "PEM private key of --tls-cert." },
  {
    name: "tls-client-ca",
    env: "LOGTALLY_TLS_CLIENT_CA",
    description: "PEM CA certificates: every gRPC client must present a certificate they signed (mutual TLS). Needs --tls-cert.",
  },
  {
    name: "token-file",
    env: "LOGTALLY_TOKEN_FILE",
    description:
      "File of bearer tokens, one per line: Ingest then requires the metadata 'authorization: Bearer <token>' with one of them " +
      "(the others are accepted too, for rotation). Off unless set.",
  },
  {
    name: "query-auth",
    env: "LOGTALLY_QUERY_AUTH",
    default: "open",
    description:
      "open: Query needs no credentials (it serves what /metrics serves). token: Query requires what Ingest requires " +
      "(the token, and with --tls-client-ca a client certificate). Health and reflection are always open.",
  },
  credentialsReloadFlag("--token-file and the TLS files are"),
  {
    name: "max-ingest-streams",
    env: "LOGTALLY_MAX_INGEST_STREAMS",
    default: "4096",
    range: [1, 1_000_000],
    description: "Ingest streams open at once; one more is refused with RESOURCE_EXHAUSTED (its sidecar retries later).",
  },
  {
    name: "hello-timeout-ms",
    env: "LOGTALLY_HELLO_TIMEOUT_MS",
    default: "10000",
    range: [100, 3_600_000],
    description: "An Ingest stream that sends no Hello within this time is ended with DEADLINE_EXCEEDED.",
  },
  {
    name: "max-series",
    env: "LOGTALLY_MAX_SERIES",
    default: "1000000",
    range: [1, 1_000_000_000],
    description:
      "Most (host, job_name) pairs counted. Once reached, rows of new pairs are not counted (rejected as series_limit); " + "existing pairs keep counting.",
  },
  LOG_LEVEL_FLAG,
] as const satisfies ReadonlyArray<FlagSpec>;

type FlagName = (typeof AGGREGATOR_FLAGS)[number]["name"];

/** TLS for the gRPC server: its certificate and key files and, for mutual TLS, the CA clients' certificates must chain to. */
export interface ServerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string | undefined;
}

/** Where the state is kept: see the --store flag. */
export type StoreChoice =
  | { readonly engine: "sqlite"; readonly stateDir: string }
  /** `url` may hold a password: never log it. */
  | { readonly engine: "postgres"; readonly url: string };

/** Whether Query requires the credentials Ingest requires. */
export type QueryAuth = "open" | "token";

/** The aggregator's configuration, parsed once at start-up. */
export interface AggregatorConfig {
  readonly grpcListen: ListenAddress;
  readonly metricsListen: ListenAddress;
  readonly stateDir: string;
  readonly store: StoreChoice;
  readonly shutdownGraceMs: number;
  readonly heartbeatIntervalMs: number;
  readonly watchBufferBytes: number;
  /** Undefined: plaintext gRPC. */
  readonly tls: ServerTlsFiles | undefined;
  /** Undefined: Ingest takes no token. */
  readonly tokenFile: string | undefined;
  readonly queryAuth: QueryAuth;
  readonly credentialsReloadMs: number;
  readonly maxIngestStreams: number;
  readonly helloTimeoutMs: number;
  readonly maxSeries: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

/** `--help` text. */
export const AGGREGATOR_HELP = formatHelp(
  "logtally-aggregator [options]",
  "Applies delta batches from logtally sidecars exactly once into durable counts and serves them\n" +
    "as log_host_job_count on /metrics. One replica on the embedded SQLite store (the default); any number on\n" +
    "one PostgreSQL database (--store).",
  AGGREGATOR_FLAGS,
);

/**
 * Parses flags > environment > defaults into a frozen config; returns
 * "help" when --help was asked for. Throws ConfigError naming a bad flag.
 */
export function parseAggregatorConfig(argv: string[], env: NodeJS.ProcessEnv): AggregatorConfig | "help" {
  const parsed = parseFlags(AGGREGATOR_FLAGS, argv, env);
  if (parsed.help) return "help";
  const values = parsed.values as Record<FlagName, string | undefined>;
  const { labels, integer } = parsed;
  const required = (name: FlagName): string => values[name]!;
  const optionalFile = (name: FlagName): string | undefined => values[name] || undefined;
  const tls = parseServerTls(optionalFile("tls-cert"), optionalFile("tls-key"), optionalFile("tls-client-ca"), labels);
  const tokenFile = optionalFile("token-file");
  const queryAuth = required("query-auth");
  if (queryAuth !== "open" && queryAuth !== "token") {
    throw new ConfigError(`${labels["query-auth"]}: expected open or token, got ${JSON.stringify(queryAuth)}`);
  }
  if (queryAuth === "token" && !tokenFile && !tls?.clientCaFile) {
    throw new ConfigError(`${labels["query-auth"]}=token needs credentials to require: give --token-file or --tls-client-ca`);
  }
  return Object.freeze({
    grpcListen: parseListenAddress(labels["grpc-listen"], required("grpc-listen")),
    metricsListen: parseListenAddress(labels["metrics-listen"], required("metrics-listen")),
    stateDir: required("state-dir"),
    store: parseStore(
      values["store-file"] ? readStoreFile(labels["store-file"], values["store-file"]) : required("store"),
      required("state-dir"),
      labels.store,
    ),
    shutdownGraceMs: integer("shutdown-grace-ms"),
    heartbeatIntervalMs: integer("heartbeat-interval-ms"),
    watchBufferBytes: integer("watch-buffer-bytes"),
    tls,
    tokenFile,
    queryAuth,
    credentialsReloadMs: integer("credentials-reload-ms"),
    maxIngestStreams: integer("max-ingest-streams"),
    helloTimeoutMs: integer("hello-timeout-ms"),
    maxSeries: integer("max-series"),
    logLevel: parseLogLevel(labels["log-level"], required("log-level")),
  });
}

/** The --store URL from its file, trimmed. */
function readStoreFile(label: string, file: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new ConfigError(`${label}: cannot read ${file}: ${(error as Error).message}`);
  }
}

function parseStore(value: string, stateDir: string, label: string): StoreChoice {
  if (value === "sqlite") return Object.freeze({ engine: "sqlite", stateDir });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // The value may hold a password: it is not repeated.
    throw new ConfigError(`${label}: expected sqlite or a postgres:// URL`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError(`${label}: expected sqlite or a postgres:// URL, got a ${url.protocol} URL`);
  }
  if (url.pathname.length <= 1) throw new ConfigError(`${label}: the URL names no database (postgres://USER@HOST:PORT/DATABASE)`);
  return Object.freeze({ engine: "postgres", url: value });
}

function parseServerTls(
  certFile: string | undefined,
  keyFile: string | undefined,
  clientCaFile: string | undefined,
  labels: Readonly<Record<FlagName, string>>,
): ServerTlsFiles | undefined {
  if (certFile && keyFile) return Object.freeze({ certFile, keyFile, clientCaFile });
  if (certFile || keyFile) throw new ConfigError(`${labels["tls-cert"]} and ${labels["tls-key"]} must be given together`);
  if (clientCaFile) throw new ConfigError(`${labels["tls-client-ca"]} needs ${labels["tls-cert"]} and ${labels["tls-key"]}: mutual TLS is TLS first`);
  return undefined;
}

export const MIGRATE_STATE_FLAGS = [
  {
    name: "from",
    env: "LOGTALLY_MIGRATE_FROM",
    description: "State directory of the SQLite state to copy (the aggregator's --state-dir). It must not be in use.",
  },
  { name: "to", env: "LOGTALLY_MIGRATE_TO", description: "postgres://USER@HOST:PORT/DATABASE to copy it into; the database must hold no logtally state yet." },
  { name: "to-file", env: "LOGTALLY_MIGRATE_TO_FILE", description: "File holding the --to URL, password included. Takes the place of --to." },
  LOG_LEVEL_FLAG,
] as const satisfies ReadonlyArray<FlagSpec>;

type MigrateFlagName = (typeof MIGRATE_STATE_FLAGS)[number]["name"];

/** What `logtally-aggregator migrate-state` copies where. */
export interface MigrateStateConfig {
  readonly from: string;
  /** May hold a password: never log it. */
  readonly to: string;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

/** `migrate-state --help` text. */
export const MIGRATE_STATE_HELP = formatHelp(
  "logtally-aggregator migrate-state --from STATE_DIR --to postgres://USER@HOST:PORT/DATABASE",
  "Copies an aggregator's SQLite state (counts, offsets, sources, rejected rows) exactly into an empty\n" +
    "PostgreSQL database, in one transaction, leaving the SQLite state as it was. Stop the aggregator first.",
  MIGRATE_STATE_FLAGS,
);

/** Parses `migrate-state`'s flags; "help" when --help was asked for. Throws ConfigError naming a bad flag. */
export function parseMigrateStateConfig(argv: string[], env: NodeJS.ProcessEnv): MigrateStateConfig | "help" {
  const parsed = parseFlags(MIGRATE_STATE_FLAGS, argv, env);
  if (parsed.help) return "help";
  const values = parsed.values as Record<MigrateFlagName, string | undefined>;
  const { labels } = parsed;
  if (!values.from) throw new ConfigError(`${labels.from} is required: the state directory to copy`);
  const to = values["to-file"] ? readStoreFile(labels["to-file"], values["to-file"]) : values.to;
  if (!to) throw new ConfigError(`${labels.to} or ${labels["to-file"]} is required: the PostgreSQL database to copy into`);
  const store = parseStore(to, values.from, labels.to);
  if (store.engine !== "postgres") throw new ConfigError(`${labels.to}: expected a postgres:// URL`);
  return Object.freeze({ from: values.from, to: store.url, logLevel: parseLogLevel(labels["log-level"], values["log-level"]!) });
}

import * as fs from "node:fs";
import * as tls from "node:tls";
import {
  ConfigError,
  createLogger,
  credentialsReloadFlag,
  formatHelp,
  formatListenAddress,
  LOG_LEVEL_FLAG,
  openIdentityFiles,
  parseFlags,
  parseListenAddress,
  parseLogLevel,
  type FlagSpec,
  type ListenAddress,
  type LOG_LEVELS,
} from "@logtally/runtime";
import { INJECTION_FLAGS, parseInjectionDefaults } from "../template/injection-flags";
import type { InjectionDefaults } from "../template/sidecar-request";
import { WebhookServer } from "./webhook-server";

export const WEBHOOK_FLAGS = [
  { name: "listen", env: "LOGTALLY_WEBHOOK_LISTEN", default: "0.0.0.0:8443", description: "host:port of the HTTPS server. Port 0 picks a free port." },
  { name: "tls-cert", env: "LOGTALLY_WEBHOOK_TLS_CERT", description: "PEM certificate (chain) the server presents. Required." },
  { name: "tls-key", env: "LOGTALLY_WEBHOOK_TLS_KEY", description: "PEM private key of --tls-cert. Required." },
  credentialsReloadFlag("the certificate files are", [{ name: "tls-reload-interval-ms", env: "LOGTALLY_WEBHOOK_TLS_RELOAD_INTERVAL_MS" }]),
  ...INJECTION_FLAGS,
  LOG_LEVEL_FLAG,
] as const satisfies ReadonlyArray<FlagSpec>;

type FlagName = (typeof WEBHOOK_FLAGS)[number]["name"];

/** `webhook --help` text. */
export const WEBHOOK_HELP = formatHelp(
  "logtally-injector webhook --tls-cert FILE --tls-key FILE [options]",
  "Serves the mutating admission webhook over HTTPS: POST /mutate takes an AdmissionReview v1 for a Pod\n" +
    'being created and, when the pod is annotated logtally.io/inject: "true", answers with a JSONPatch\n' +
    "adding the logtally sidecar, exactly as `logtally-injector inject` would. Every pod is allowed: one\n" +
    "that cannot be injected is admitted unchanged, with a warning. GET /healthz answers 200.\n" +
    "SIGTERM stops it gracefully.",
  WEBHOOK_FLAGS,
);

/** The webhook's configuration, read once at start-up. */
export interface WebhookConfig {
  readonly listen: ListenAddress;
  /** PEM contents of --tls-cert and --tls-key, checked to make a key pair. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer };
  /** The files they were read from, read again every `tlsReloadIntervalMs`. */
  readonly tlsFiles: { readonly cert: string; readonly key: string };
  readonly tlsReloadIntervalMs: number;
  readonly defaults: InjectionDefaults;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

/**
 * Parses flags > environment > defaults and reads the TLS files; "help" for
 * --help. Throws ConfigError naming the flag when a value, or a file, is bad.
 */
export function loadWebhookConfig(argv: string[], env: NodeJS.ProcessEnv): WebhookConfig | "help" {
  const parsed = parseFlags(WEBHOOK_FLAGS, argv, env);
  if (parsed.help) return "help";
  const values = parsed.values as Record<FlagName, string | undefined>;
  const { labels } = parsed;
  const readPem = (name: "tls-cert" | "tls-key"): Buffer => {
    const file = values[name];
    if (!file) throw new ConfigError(`${labels[name]} is required`);
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${labels[name]}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const pem = { cert: readPem("tls-cert"), key: readPem("tls-key") };
  try {
    tls.createSecureContext(pem);
  } catch (error) {
    throw new ConfigError(`${labels["tls-cert"]} and ${labels["tls-key"]} are not a PEM certificate and its key: ${(error as Error).message}`);
  }
  return Object.freeze({
    listen: parseListenAddress(labels.listen, values.listen!),
    tls: Object.freeze(pem),
    tlsFiles: Object.freeze({ cert: values["tls-cert"]!, key: values["tls-key"]! }),
    tlsReloadIntervalMs: parsed.integer("credentials-reload-ms"),
    defaults: parseInjectionDefaults(values, labels),
    logLevel: parseLogLevel(labels["log-level"], values["log-level"]!),
  });
}

/** Runs the webhook until `stopSignal` resolves, then stops it gracefully. Resolves with the exit code. */
export async function runWebhook(config: WebhookConfig, stopSignal: Promise<NodeJS.Signals>): Promise<number> {
  const log = createLogger("webhook", config.logLevel);
  const server = new WebhookServer({ tls: config.tls, defaults: config.defaults }, log);
  const port = await server.start(config.listen);
  const identity = openIdentityFiles(config.tlsFiles.cert, config.tlsFiles.key, log);
  identity.onChange(({ certificate, privateKey }) => server.setKeyPair({ cert: certificate, key: privateKey }));
  identity.start(config.tlsReloadIntervalMs);
  log.info({ address: formatListenAddress({ host: config.listen.host, port }), port, ...config.defaults }, "webhook listening");
  const signal = await stopSignal;
  log.info({ signal }, "signal received");
  identity.stop();
  await server.stop();
  log.info("webhook stopped");
  return 0;
}

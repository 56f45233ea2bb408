#!/usr/bin/env node
import { firstStopSignal, releaseStopSignals } from "./early-signals";
import { ConfigError, CredentialFileError, HttpServer, createLogger } from "@logtally/proto";
import { SIDECAR_HELP, parseSidecarConfig, type SidecarConfig } from "./config";
import { SidecarMetrics } from "./metrics";
import { Sidecar } from "./sidecar";

/**
 * `logtally-sidecar` runs the sidecar; `logtally-sidecar inject` and
 * `logtally-sidecar webhook` put it into Kubernetes pods.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  // The commands are loaded only when asked for: the sidecar in every pod starts without them (and yaml).
  switch (command) {
    case "inject": {
      releaseStopSignals();
      const { INJECT_HELP, parseInjectConfig, runInject } = await import("./inject/inject-command.js");
      return runProgram("logtally-sidecar inject", INJECT_HELP, () => parseInjectConfig(args, process.env), (config) =>
        runInject(config, process),
      );
    }
    case "webhook": {
      const { WEBHOOK_HELP, loadWebhookConfig, runWebhook } = await import("./inject/webhook-command.js");
      return runProgram("logtally-sidecar webhook", WEBHOOK_HELP, () => loadWebhookConfig(args, process.env), (config) =>
        runWebhook(config, firstStopSignal()),
      );
    }
    default:
      return runProgram("logtally-sidecar", SIDECAR_HELP, () => parseSidecarConfig(argv, process.env), runSidecar);
  }
}

/** Reads a program's configuration, printing help (exit 0) or a ConfigError (exit 2), then runs it. */
async function runProgram<Config>(
  name: string,
  help: string,
  readConfig: () => Config | "help",
  run: (config: Config) => Promise<number>,
): Promise<number> {
  let config;
  try {
    config = readConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${name}: ${error.message}\nTry --help.\n`);
    return 2;
  }
  if (config === "help") {
    process.stdout.write(help);
    return 0;
  }
  return run(config);
}

/** Tails and ships until SIGTERM, then drains. */
async function runSidecar(config: SidecarConfig): Promise<number> {
  const log = createLogger("sidecar", config.logLevel);
  const metrics = new SidecarMetrics();
  let sidecar: Sidecar;
  try {
    sidecar = new Sidecar(config, metrics, log);
  } catch (error) {
    if (!(error instanceof CredentialFileError)) throw error;
    log.fatal({ path: error.path, err: error.cause }, error.message);
    return 1;
  }
  let http: HttpServer | undefined;
  if (config.metricsListen) {
    http = new HttpServer({ renderMetrics: () => metrics.registry.metrics(), isReady: () => sidecar.isConnected() }, log);
    const port = await http.start(config.metricsListen);
    log.info({ metricsPort: port }, "metrics listening");
  }
  sidecar.start();
  const signal = await firstStopSignal();
  log.info({ signal }, "signal received");
  // SIGTERM is how Kubernetes scales a pod down: ship everything first.
  await sidecar.drain();
  await http?.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`logtally-sidecar: fatal: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
import { firstStopSignal } from "./early-signals";
import { ConfigError, HttpServer, createLogger } from "@logtally/proto";
import { SIDECAR_HELP, parseSidecarConfig } from "./config";
import { SidecarMetrics } from "./metrics";
import { Sidecar } from "./sidecar";

async function main(): Promise<number> {
  let config;
  try {
    config = parseSidecarConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`logtally-sidecar: ${error.message}\nTry --help.\n`);
    return 2;
  }
  if (config === "help") {
    process.stdout.write(SIDECAR_HELP);
    return 0;
  }
  const log = createLogger("sidecar", config.logLevel);
  const metrics = new SidecarMetrics();
  const sidecar = new Sidecar(config, metrics, log);
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

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`logtally-sidecar: fatal: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);

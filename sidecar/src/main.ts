#!/usr/bin/env node
// First: catches SIGTERM from the moment the process starts (see stop-signals.ts in @logtally/runtime).
import { CredentialFileError, HttpServer, createLogger, firstStopSignal, packageVersion, runProgram, tierUpEarly } from "@logtally/runtime";
import { PROTOCOL_VERSION } from "@logtally/proto";
import { SIDECAR_HELP, parseSidecarConfig, type SidecarConfig } from "./config";
import { SidecarMetrics } from "./metrics";
import { Sidecar } from "./sidecar";

/** The commands that moved to their own program, logtally-injector. */
const MOVED_COMMANDS = new Set(["inject", "webhook"]);

/** Tails and ships until SIGTERM, then drains. */
async function runSidecar(config: SidecarConfig): Promise<number> {
  // Every batch takes one path a few times a second, for hours: have V8 optimize it early.
  tierUpEarly();
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
  const ended = await Promise.race([firstStopSignal().then((signal) => ({ signal })), sidecar.failed().then((refusal) => ({ refusal }))]);
  if ("refusal" in ended) {
    log.fatal({ reason: ended.refusal.message }, `the aggregator refused what this sidecar counts: ${ended.refusal.message}`);
    await sidecar.stop();
    await http?.stop();
    return 1;
  }
  const { signal } = ended;
  log.info({ signal }, "signal received");
  // SIGTERM is how Kubernetes scales a pod down: ship everything first.
  await sidecar.drain();
  await http?.stop();
  return 0;
}

const argv = process.argv.slice(2);
if (argv[0] !== undefined && MOVED_COMMANDS.has(argv[0])) {
  process.stderr.write(`logtally-sidecar: "${argv[0]}" is a command of logtally-injector now: run logtally-injector ${argv[0]}\n`);
  process.exitCode = 2;
} else {
  runProgram("logtally-sidecar", SIDECAR_HELP, () => parseSidecarConfig(argv, process.env), runSidecar, {
    version: `${packageVersion(__dirname)} (protocol ${PROTOCOL_VERSION})`,
  });
}

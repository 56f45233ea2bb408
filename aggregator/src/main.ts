#!/usr/bin/env node
// First: catches SIGTERM from the moment the process starts (see stop-signals.ts in @logtally/runtime).
import { CredentialFileError, createLogger, firstStopSignal, runProgram } from "@logtally/runtime";
import { AGGREGATOR_HELP, parseAggregatorConfig, type AggregatorConfig } from "./config";
import { Aggregator } from "./aggregator";
import { StateError } from "./errors";

/** Serves until SIGTERM or SIGINT, then stops gracefully. */
async function runAggregator(config: AggregatorConfig): Promise<number> {
  const log = createLogger("aggregator", config.logLevel);
  let aggregator: Aggregator;
  try {
    aggregator = new Aggregator(config, log);
    await aggregator.start();
  } catch (error) {
    if (!(error instanceof StateError) && !(error instanceof CredentialFileError)) throw error;
    log.fatal({ path: error.path, err: error.cause }, error.message);
    return 1;
  }
  const signal = await firstStopSignal();
  log.info({ signal }, "signal received");
  await aggregator.stop();
  return 0;
}

runProgram("logtally-aggregator", AGGREGATOR_HELP, () => parseAggregatorConfig(process.argv.slice(2), process.env), runAggregator);

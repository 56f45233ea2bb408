#!/usr/bin/env node
import { ConfigError, CredentialFileError, createLogger } from "@logtally/proto";

import { AGGREGATOR_HELP, parseAggregatorConfig } from "./config";
import { Aggregator } from "./aggregator";
import { StateError } from "./errors";

async function main(): Promise<number> {
  let config;
  try {
    config = parseAggregatorConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`logtally-aggregator: ${error.message}\nTry --help.\n`);
    return 2;
  }
  if (config === "help") {
    process.stdout.write(AGGREGATOR_HELP);
    return 0;
  }
  const log = createLogger("aggregator", config.logLevel);
  let aggregator: Aggregator;
  try {
    aggregator = new Aggregator(config, log);
  } catch (error) {
    if (!(error instanceof StateError) && !(error instanceof CredentialFileError)) throw error;
    log.fatal({ path: error.path, err: error.cause }, error.message);
    return 1;
  }
  let signalled: NodeJS.Signals | undefined;
  const stopping = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) return;
      signalled = signal;
      log.info({ signal }, "signal received");
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  await aggregator.start();
  await stopping;
  await aggregator.stop();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`logtally-aggregator: fatal: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);

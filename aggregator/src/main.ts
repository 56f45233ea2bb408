#!/usr/bin/env node
// First: catches SIGTERM from the moment the process starts (see stop-signals.ts in @logtally/runtime).
import { CredentialFileError, createLogger, firstStopSignal, packageVersion, runProgram, tierUpEarly } from "@logtally/runtime";
import { PROTOCOL_VERSION } from "@logtally/proto";
import { AGGREGATOR_HELP, MIGRATE_STATE_HELP, parseAggregatorConfig, parseMigrateStateConfig, type AggregatorConfig, type MigrateStateConfig } from "./config";
import { migrateState } from "./store/migrate-state";
import { Aggregator } from "./aggregator";
import { StateError } from "./errors";
import { SqliteEngineError } from "./store/sqlite-engine";

/** Serves until SIGTERM or SIGINT, then stops gracefully. */
async function runAggregator(config: AggregatorConfig): Promise<number> {
  // Every batch takes one path a few times a second, for hours: have V8 optimize it early.
  tierUpEarly();
  const log = createLogger("aggregator", config.logLevel);
  let aggregator: Aggregator;
  try {
    aggregator = new Aggregator(config, log);
    await aggregator.start();
  } catch (error) {
    if (error instanceof SqliteEngineError) return refused(log, error);
    if (!(error instanceof StateError) && !(error instanceof CredentialFileError)) throw error;
    log.fatal({ path: error.path, err: error.cause }, error.message);
    return 1;
  }
  const signal = await firstStopSignal();
  log.info({ signal }, "signal received");
  await aggregator.stop();
  return 0;
}

/** Copies a SQLite state into PostgreSQL; 0 when it is all there. */
async function runMigrateState(config: MigrateStateConfig): Promise<number> {
  const log = createLogger("aggregator", config.logLevel);
  try {
    const copied = await migrateState(config.from, config.to, log.child({ component: "state" }));
    log.info(copied, "state copied: start the aggregators with --store on the PostgreSQL database");
    return 0;
  } catch (error) {
    if (error instanceof SqliteEngineError) return refused(log, error);
    if (!(error instanceof StateError)) throw error;
    log.fatal({ path: error.path, err: error.cause }, error.message);
    return 1;
  }
}

/** A runtime without the SQLite engine: said in one line, not as a defect's stack. */
function refused(log: ReturnType<typeof createLogger>, error: SqliteEngineError): number {
  log.fatal(error.message);
  return 1;
}

/** What --version prints after the program's name. */
const VERSION = { version: `${packageVersion(__dirname)} (protocol ${PROTOCOL_VERSION})` };

if (process.argv[2] === "migrate-state") {
  runProgram(
    "logtally-aggregator migrate-state",
    MIGRATE_STATE_HELP,
    () => parseMigrateStateConfig(process.argv.slice(3), process.env),
    runMigrateState,
    VERSION,
  );
} else {
  runProgram("logtally-aggregator", AGGREGATOR_HELP, () => parseAggregatorConfig(process.argv.slice(2), process.env), runAggregator, VERSION);
}

/** The logtally aggregator as a library: used by main.ts and by tests. */
export { Aggregator, type AggregatorAddresses } from "./aggregator";
export { parseAggregatorConfig, AGGREGATOR_FLAGS, type AggregatorConfig } from "./config";
export { SqliteStore } from "./store/sqlite-store";
export { DEFAULT_MAX_SERIES, type Store } from "./store/store";
export { DATABASE_FILE, StateDatabase } from "./store/state-database";
export { SCHEMA_VERSION } from "./store/schema";
export type { SqliteDatabase } from "./store/sqlite-engine";
export { splitBySeriesLimit } from "./ingest/series-limit";
export { TokenVerifier } from "./security/token-verifier";
export { decideBatch, validateBatch, generationId, parseGenerationId, type BatchDecision } from "./ingest/ledger";
export { COUNT_METRIC_NAME, COUNT_METRIC_HELP } from "./http/count-exposition";
export { StatusError, StateError } from "./errors";

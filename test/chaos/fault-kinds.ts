import type { ChaosStore } from "./chaos-aggregators";

/**
 * The faults a scenario injects while rows flow. Every kind but
 * `copytruncate` must leave the counts exact; `copytruncate` loses the rows
 * written between the copy and the truncation in any tailer, so scenarios
 * with it may lose up to those rows, and no more.
 *
 * EXACT_FAULTS are those of the SQLite store (the default). On PostgreSQL
 * (POSTGRES_EXACT_FAULTS) the aggregator faults hit one random replica, the
 * network faults every replica's proxy or one random replica's (see
 * ChaosAggregators.networkFaultProxies), the SQLite-only ones are left out and the
 * POSTGRES_ONLY_FAULTS come in.
 */
export const EXACT_FAULTS = [
  "kill_sidecar",
  "kill_sidecar_reconnecting",
  "kill_aggregator",
  "stop_aggregator",
  "network_drop",
  "network_stall",
  "network_delay_acks",
  "network_cut_mid_message",
  "network_refuse",
  "rotate",
  "rotate_twice",
  "rotate_while_down",
  "relink",
  "relink_while_down",
  "delete_recreate",
  "truncate",
  "truncate_regrow",
  "shared_kill_one",
  "shared_restart_one",
  "shared_restart_both",
  "shared_join_late",
  "sigterm_drain",
  "second_aggregator",
  "empty_database",
] as const;

/** Faults on the state of the one SQLite aggregator: a second copy on it, the database file emptied. */
export const SQLITE_ONLY_FAULTS = ["second_aggregator", "empty_database"] as const;

/**
 * Faults of replicas sharing a PostgreSQL database: a replica killed and kept
 * down a while, the server crashed and restarted, the replicas' database
 * connections dropped or stalled.
 */
export const POSTGRES_ONLY_FAULTS = ["kill_replica", "postgres_restart", "database_cut", "database_stall"] as const;

/** A fault that may lose the rows written inside its window (see ChaosWorld.rowsInCopytruncateWindows). */
export const LOSSY_FAULTS = ["copytruncate"] as const;

export type FaultKind = (typeof EXACT_FAULTS)[number] | (typeof POSTGRES_ONLY_FAULTS)[number] | (typeof LOSSY_FAULTS)[number];

const sqliteOnly = new Set<FaultKind>(SQLITE_ONLY_FAULTS);

/** The exact faults of the PostgreSQL store, in the order of EXACT_FAULTS, then the PostgreSQL-only ones. */
export const POSTGRES_EXACT_FAULTS: readonly FaultKind[] = [...EXACT_FAULTS.filter((kind) => !sqliteOnly.has(kind)), ...POSTGRES_ONLY_FAULTS];

/** The exact faults a store can run, from which random scenarios draw. */
export function exactFaults(store: ChaosStore["kind"]): readonly FaultKind[] {
  return store === "postgres" ? POSTGRES_EXACT_FAULTS : EXACT_FAULTS;
}

/** Every fault a store can run: its exact faults and the lossy ones. */
export function faultsOf(store: ChaosStore["kind"]): readonly FaultKind[] {
  return [...exactFaults(store), ...LOSSY_FAULTS];
}

import * as fs from "node:fs";
import * as path from "node:path";
import type { Logger } from "@logtally/runtime";
import { StateError } from "../errors";
import { PostgresStore } from "./postgres/postgres-store";
import { DATABASE_FILE } from "./state-database";
import { SqliteStore } from "./sqlite-store";

/** What was copied. */
export interface MigratedState {
  readonly metrics: number;
  readonly series: number;
  readonly rows: number;
  readonly generations: number;
  readonly sources: number;
}

/**
 * Copies the SQLite state in `stateDir` (metrics and their series, ledger,
 * sources, rejected rows) into the empty PostgreSQL database at `url`, exactly, in one
 * transaction. The state directory is locked meanwhile, so no aggregator can
 * count into it while it is copied; it is left as it was. Throws StateError:
 * a state directory without a database, one in use, a target not empty.
 */
export async function migrateState(stateDir: string, url: string, log: Logger): Promise<MigratedState> {
  const databasePath = path.resolve(stateDir, DATABASE_FILE);
  if (!fs.existsSync(databasePath)) throw new StateError(`there is no state to copy: ${databasePath} does not exist`, databasePath);
  const source = SqliteStore.open(stateDir);
  try {
    const rows = source.view.rows();
    const target = new PostgresStore(url, log);
    try {
      await target.open();
      await target.importState(rows);
    } finally {
      await target.close();
    }
    return {
      metrics: rows.metrics.length,
      series: rows.series.length,
      rows: source.view.totalCounted(),
      generations: rows.generations.length,
      sources: rows.sources.length,
    };
  } finally {
    await source.close();
  }
}

import * as fs from "node:fs";
import * as path from "node:path";
import { postgresUnavailable, TestPostgres } from "@logtally/testing";

/** The store a bench aggregator keeps its state in: the embedded SQLite default, or a PostgreSQL database. */
export type BenchStore = { readonly engine: "sqlite" } | { readonly engine: "postgres"; readonly storeFile: string };

export const SQLITE: BenchStore = Object.freeze({ engine: "sqlite" });

/**
 * A PostgreSQL server for one figure, with durable commits as in production
 * (fsync and synchronous_commit on): each call of `freshDatabase` gives an
 * empty database, as a store file to pass with --store-file.
 */
export class BenchPostgres {
  private databases = 0;

  private constructor(
    private readonly server: TestPostgres,
    private readonly dir: string,
  ) {}

  /** Starts a server; throws with the reason when PostgreSQL is not installed. */
  static async start(dir: string): Promise<BenchPostgres> {
    const unavailable = postgresUnavailable();
    if (unavailable) throw new Error(`the PostgreSQL figures need PostgreSQL: ${unavailable}`);
    return new BenchPostgres(await TestPostgres.start(), dir);
  }

  async freshDatabase(): Promise<BenchStore> {
    const name = `bench_${++this.databases}`;
    await this.server.createDatabase(name);
    const storeFile = path.join(this.dir, `${name}.url`);
    fs.writeFileSync(storeFile, this.server.url(name));
    return { engine: "postgres", storeFile };
  }

  async stop(): Promise<void> {
    await this.server.destroy();
  }
}

/** The aggregator flags that select `store`. */
export function storeArgs(store: BenchStore): string[] {
  return store.engine === "postgres" ? ["--store-file", store.storeFile] : [];
}

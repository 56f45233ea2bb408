import * as path from "node:path";
import type { RunningProcess } from "@logtally/testing";
import { startAggregator, type AggregatorProcess } from "../support/processes";
import { RoundRobinProxy } from "../support/round-robin-proxy";
import { TcpFaultProxy } from "../support/tcp-proxy";
import { ChaosDatabase } from "./chaos-database";
import type { ProcessRecord } from "./process-record";
import { countedSeries } from "./spec-source";

/**
 * Where the aggregators keep their state: one aggregator on the embedded
 * SQLite store, or 2–3 replicas sharing a PostgreSQL database.
 */
export type ChaosStore = { readonly kind: "sqlite" } | { readonly kind: "postgres"; readonly replicas: number };

/**
 * One aggregator (a replica, on PostgreSQL): the process running in it now,
 * if any, the ports it keeps across restarts, and the fault proxy in front
 * of it that the sidecars' traffic to it crosses.
 */
export interface AggregatorSlot {
  readonly name: string;
  readonly ports: { readonly grpcPort: number; readonly metricsPort: number };
  readonly proxy: TcpFaultProxy;
  process: AggregatorProcess | undefined;
}

/**
 * The aggregator side of a chaos world, each aggregator behind its own fault
 * proxy. On SQLite one aggregator, whose proxy the sidecars connect to. On
 * PostgreSQL 2–3 replicas, a round-robin proxy in front of their fault
 * proxies (a Kubernetes Service) that the sidecars connect to, and the
 * database, which the replicas reach through a fault proxy of its own.
 */
export class ChaosAggregators {
  readonly slots: AggregatorSlot[] = [];
  /** The shared database, on PostgreSQL. */
  database: ChaosDatabase | undefined;
  /** The database server's log once closed, for a failure report. */
  databaseLog = "";
  private service: RoundRobinProxy | undefined;

  constructor(
    private readonly dir: string,
    readonly store: ChaosStore,
    private readonly random: () => number,
    /** Where every process started is recorded. */
    private readonly processes: ProcessRecord,
  ) {}

  /** Starts the database (on PostgreSQL), the aggregators and their proxies. */
  async start(): Promise<void> {
    if (this.store.kind === "sqlite") {
      await this.add("aggregator");
      return;
    }
    this.database = await ChaosDatabase.start(this.dir);
    for (let n = 1; n <= this.store.replicas; n++) await this.add(`replica-${n}`);
    this.service = await RoundRobinProxy.start(this.slots.map((slot) => slot.proxy.address));
  }

  /** What the sidecars connect to: the aggregator's proxy, or the replicas' Service. */
  get address(): string {
    return this.service?.address ?? this.slots[0]!.proxy.address;
  }

  /** Starts the aggregator in a slot (which must be empty) again, on its ports and state. */
  async restart(slot: AggregatorSlot): Promise<void> {
    slot.process = await this.launch(slot.name, slot.ports);
  }

  /** Signals the aggregator in a slot and waits for it to exit. */
  async stop(slot: AggregatorSlot, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const running = slot.process;
    slot.process = undefined;
    return running ? running.stop(signal) : { code: 0, signal: null };
  }

  /**
   * An aggregator that is up, for the harness's own queries and scrapes: on
   * PostgreSQL any replica shows every count (it catches up with the
   * database before a scrape; its Query answers may lag up to a second).
   */
  live(): AggregatorProcess {
    const live = this.slots.find((slot) => slot.process && isRunning(slot.process));
    if (!live) throw new Error("no aggregator is running");
    return live.process!;
  }

  /**
   * The proxies a network fault hits: the aggregator's on SQLite (drawing
   * nothing, so that SQLite scenarios replay as before); on PostgreSQL every
   * replica's or one random replica's, by a coin toss: the whole Service cut
   * off, or one pod's network broken while the others count.
   */
  networkFaultProxies(): TcpFaultProxy[] {
    const proxies = this.slots.map((slot) => slot.proxy);
    if (proxies.length === 1 || this.random() < 0.5) return proxies;
    return [proxies[Math.floor(this.random() * proxies.length)]!];
  }

  /** Restarts each aggregator that exited unasked (its slot still holds it). */
  async restartExited(): Promise<void> {
    for (const slot of this.slots) {
      if (slot.process && !isRunning(slot.process)) await this.restart(slot);
    }
  }

  /** Proxies passing, the database and every aggregator running. */
  async heal(): Promise<void> {
    for (const slot of this.slots) slot.proxy.setMode({ kind: "pass" });
    await this.database?.heal();
    for (const slot of this.slots) {
      if (!slot.process || !isRunning(slot.process)) await this.restart(slot);
    }
  }

  /** Every aggregator's log_host_job_count series, each scraped from its own /metrics. */
  async counts(): Promise<Array<{ aggregator: string; counts: Map<string, number> }>> {
    const counted = [];
    for (const slot of this.slots) {
      if (!slot.process) throw new Error(`${slot.name} is not running`);
      counted.push({ aggregator: slot.name, counts: await countedSeries(slot.process.metricsUrl) });
    }
    return counted;
  }

  /** Names of the processes whose logs hold the database's password (none may). */
  leakedPassword(): string[] {
    const database = this.database;
    return database ? this.processes.history.filter((running) => database.leaks(running.dump())).map((running) => running.name) : [];
  }

  /** Stops the proxies and the database (its log kept in `databaseLog`); the processes are the world's to stop. */
  async close(): Promise<void> {
    await this.service?.stop();
    await Promise.all(this.slots.map((slot) => slot.proxy.stop()));
    if (this.database) this.databaseLog = await this.database.close();
  }

  /** Starts an aggregator on free ports, then its fault proxy. */
  private async add(name: string): Promise<void> {
    const running = await this.launch(name, { grpcPort: 0, metricsPort: 0 });
    const proxy = await TcpFaultProxy.start({ host: "127.0.0.1", port: running.grpcPort });
    this.slots.push({ name, ports: { grpcPort: running.grpcPort, metricsPort: running.metricsPort }, proxy, process: running });
  }

  private async launch(name: string, ports: AggregatorSlot["ports"]): Promise<AggregatorProcess> {
    // On PostgreSQL the state directory is not used, but the helper needs one.
    const extraArgs = this.database ? ["--store-file", this.database.storeFile] : [];
    const running = await startAggregator(path.join(this.dir, "state"), { ...ports, name: `${name}-${this.processes.history.length}`, extraArgs });
    this.processes.add(running, () => this.slots.some((slot) => slot.process === running));
    return running;
  }
}

/** Whether a process has neither exited nor been killed. */
export function isRunning(running: RunningProcess): boolean {
  return running.child.exitCode === null && running.child.signalCode === null;
}

import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { MAX_MESSAGE_BYTES, exposedName, loadLogtallyGrpc, loadReflectedDefinition, parseTokenFile } from "@logtally/proto";
import { CredentialFiles, formatListenAddress, HttpServer } from "@logtally/runtime";
import type { Logger } from "@logtally/runtime";
import { createAuthInterceptor } from "./security/auth-interceptor";
import type { AggregatorConfig } from "./config";

import { GroupCommitter } from "./ingest/group-commit";
import { WriteHealth } from "./ingest/write-health";
import { IngestService } from "./ingest/ingest-service";
import { widenReceiveWindows } from "./ingest/receive-window";
import { AggregatorMetrics } from "./http/metrics";
import { QueryService } from "./query/query-service";
import { createServerTransport, type ServerTransport } from "./security/server-credentials";
import { SourceActivity } from "./ingest/source-activity";
import { describeSources } from "./query/source-status";
import { STATUS_PAGE_TOP_COUNTS, renderStatusPage } from "./http/status-page";
import { SqliteStore } from "./store/sqlite-store";
import { PostgresStore } from "./store/postgres/postgres-store";
import type { Store } from "./store/store";
import { describeWriteFailure } from "./store/write-failure";
import { TokenVerifier } from "./security/token-verifier";
import { topCounts } from "./query/top-counts";

/** Where a running aggregator listens (ports resolved when configured as 0). */
export interface AggregatorAddresses {
  readonly grpcPort: number;
  readonly metricsPort: number;
}

type Lifecycle =
  | { readonly state: "idle" }
  | { readonly state: "starting" }
  | { readonly state: "running" }
  | { readonly state: "draining"; readonly stopped: Promise<void> }
  | { readonly state: "stopped" };

const HEALTH_SERVICES = ["", "logtally.v1.Ingest", "logtally.v1.Query"] as const;

/** How often the view of a shared store catches up with other aggregators' commits when nothing else asks. */
const SHARED_STORE_REFRESH_MS = 1_000;

/**
 * HTTP/2 keepalive: a connection is pinged after a minute without traffic
 * and closed when 20 s pass without the answer, so the streams of a sidecar
 * that vanished (its node gone, a connection silently dropped) are ended even
 * though a healthy sidecar on an idle file sends nothing for hours. The
 * sidecars ping at the same pace; grpc-js servers accept client pings at any
 * rate.
 */
const KEEPALIVE_OPTIONS = { "grpc.keepalive_time_ms": 60_000, "grpc.keepalive_timeout_ms": 20_000 } as const;

/** A connection without any call for this long is closed (the client reconnects when it needs to). */
const MAX_CONNECTION_IDLE_MS = 5 * 60_000;

/** Calls one connection may have open at once (a sidecar has one). */
const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 100;

/**
 * The aggregator process: durable store, gRPC server (Ingest, Query, Health,
 * reflection) and HTTP server (metrics, probes), started and stopped together.
 */
export class Aggregator {
  private lifecycle: Lifecycle = { state: "idle" };
  private readonly store: Store;
  /** While running on a shared store: catches the view up with other aggregators' commits. */
  private refreshTimer: NodeJS.Timeout | undefined;
  /** Stops granting the wider HTTP/2 receive windows; set while the gRPC server may take connections. */
  private narrowReceiveWindows: (() => void) | undefined;
  private readonly committer: GroupCommitter;
  /** Whether the state can be written: ready, and SERVING, only while it can. */
  private readonly writeHealth: WriteHealth;
  private readonly metrics: AggregatorMetrics;
  private readonly ingest: IngestService;
  private readonly query: QueryService;
  private readonly health = new HealthImplementation();
  private readonly grpcServer: grpc.Server;
  private readonly httpServer: HttpServer;
  private readonly transport: ServerTransport;
  private readonly tokenFile: CredentialFiles<string[]> | undefined;

  /**
   * Reads the credential files (throws CredentialFileError if one is
   * unusable) and opens the state (throws StateError if it is unusable);
   * listens only in start().
   */
  constructor(
    private readonly config: AggregatorConfig,
    private readonly log: Logger,
  ) {
    const credentialsLog = log.child({ component: "credentials" });
    this.transport = createServerTransport(config.tls, credentialsLog);
    this.tokenFile =
      config.tokenFile === undefined ? undefined : new CredentialFiles([config.tokenFile], ([contents]) => parseTokenFile(contents!), credentialsLog);
    const { store } = config;
    this.store =
      store.engine === "sqlite"
        ? SqliteStore.open(store.stateDir, { maxSeries: config.maxSeries })
        : new PostgresStore(store.url, log.child({ component: "state" }), { maxSeries: config.maxSeries });
    const activity = new SourceActivity((sourceId) => this.store.view.allSources().has(sourceId));
    this.metrics = new AggregatorMetrics(this.store, activity);
    this.writeHealth = new WriteHealth(
      () => this.store.probeWrite(),
      log.child({ component: "state" }),
      () => this.reportHealth(),
    );
    this.committer = new GroupCommitter(this.store, this.metrics, this.writeHealth);
    this.ingest = new IngestService(this.store, this.committer, this.metrics, activity, config, log.child({ component: "ingest" }), {
      maxStreams: config.maxIngestStreams,
      helloTimeoutMs: config.helloTimeoutMs,
    });
    this.query = new QueryService(this.store, activity, config, log.child({ component: "query" }));
    const logtally = loadLogtallyGrpc().logtally.v1;
    const protectedServices = new Set(["logtally.v1.Ingest", ...(config.queryAuth === "token" ? ["logtally.v1.Query"] : [])]);
    this.grpcServer = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_connection_idle_ms": MAX_CONNECTION_IDLE_MS,
      "grpc.max_concurrent_streams": MAX_CONCURRENT_STREAMS_PER_CONNECTION,
      ...KEEPALIVE_OPTIONS,
      interceptors: this.tokenFile
        ? [createAuthInterceptor(new TokenVerifier(this.tokenFile), protectedServices, this.metrics, log.child({ component: "auth" }))]
        : [],
    });
    this.grpcServer.addService(logtally.Ingest.service, this.ingest.handlers());
    this.grpcServer.addService(logtally.Query.service, this.query.handlers());
    this.health.addToServer(this.grpcServer);
    new ReflectionService(loadReflectedDefinition()).addToServer(this.grpcServer);
    this.setHealth("NOT_SERVING");
    this.httpServer = new HttpServer(
      {
        renderMetrics: async () => {
          // Never less than any scrape before, whichever replica answered it. A
          // database out of reach is reported by the write health (and
          // logtally_state_writable): the counts served are then the last seen.
          await this.store.refresh().catch(() => undefined);
          return this.metrics.render();
        },
        isReady: () => this.lifecycle.state === "running" && this.writeHealth.writable,
        renderHomePage: () =>
          renderStatusPage({
            nowMs: Date.now(),
            sources: describeSources(this.store, activity),
            metrics: [...this.store.view.allMetrics()].map(({ definition, series, rows }) => ({
              name: definition.name,
              labelNames: definition.labelNames,
              kind: definition.kind,
              exposedAs: exposedName(definition.name),
              series: series.length,
              maxSeries: this.store.view.maxSeries,
              rows,
              topCounts: topCounts(series, STATUS_PAGE_TOP_COUNTS),
            })),
            seriesCount: this.store.view.totalSeries(),
            rowsCounted: this.store.view.totalCounted(),
          }),
      },
      log.child({ component: "http" }),
    );
  }

  /** Opens the store (throws StateError when it cannot be used), binds both servers and starts serving. */
  async start(): Promise<AggregatorAddresses> {
    if (this.lifecycle.state !== "idle") throw new Error(`cannot start an aggregator that is ${this.lifecycle.state}`);
    this.lifecycle = { state: "starting" };
    try {
      await this.store.open();
    } catch (error) {
      this.lifecycle = { state: "stopped" };
      await this.store.close();
      throw error;
    }
    const metricsPort = await this.httpServer.start(this.config.metricsListen);
    this.narrowReceiveWindows = widenReceiveWindows();
    const grpcPort = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(formatListenAddress(this.config.grpcListen), this.transport.credentials, (error, port) =>
        error ? reject(error) : resolve(port),
      );
    });
    for (const files of this.credentialFiles()) files.start(this.config.credentialsReloadMs);
    this.lifecycle = { state: "running" };
    await this.writeHealth.start();
    this.reportHealth();
    if (this.config.store.engine === "postgres") this.refreshPeriodically();
    const { host } = this.config.grpcListen;
    const security = this.describeSecurity();
    this.log.info(
      { grpcAddress: formatListenAddress({ host, port: grpcPort }), grpcPort, metricsPort, database: this.store.location, ...security },
      "aggregator started",
    );
    if (security.ingestCredentials === "none") {
      this.log.warn("ingest is open: any client that reaches the gRPC port can ship counts; set --token-file or --tls-client-ca");
    } else if (security.transport === "plaintext") {
      this.log.warn("the token travels in plaintext: anyone who can watch the network can read it; set --tls-cert and --tls-key");
    }
    return { grpcPort, metricsPort };
  }

  /**
   * Catches the view up every second, so that watches and queries see what
   * other aggregators counted; a database that cannot be reached makes the
   * aggregator not ready even while no batch comes.
   */
  private refreshPeriodically(): void {
    this.refreshTimer = setTimeout(async () => {
      await this.store.refresh().catch((error: unknown) => {
        const failure = describeWriteFailure(error);
        if (failure) this.writeHealth.failed(failure);
        else this.log.warn({ err: (error as Error).message }, "view not refreshed");
      });
      if (this.lifecycle.state === "running") this.refreshPeriodically();
    }, SHARED_STORE_REFRESH_MS);
    this.refreshTimer.unref();
  }

  /** How clients reach the server and what it requires of them, for the start-up log. */
  private describeSecurity(): { transport: string; ingestCredentials: string; queryCredentials: string } {
    const { tls, queryAuth } = this.config;
    const required = [...(this.tokenFile ? ["token"] : []), ...(tls?.clientCaFile ? ["client-certificate"] : [])];
    const ingestCredentials = required.join("+") || "none";
    return {
      transport: tls ? (tls.clientCaFile ? "mutual-tls" : "tls") : "plaintext",
      ingestCredentials,
      queryCredentials: queryAuth === "token" ? ingestCredentials : tls?.clientCaFile ? "client-certificate" : "none",
    };
  }

  private credentialFiles(): Array<CredentialFiles<unknown>> {
    return [...this.transport.files, ...(this.tokenFile ? [this.tokenFile] : [])];
  }

  /**
   * Graceful stop: report NOT_SERVING, end ingest streams (sidecars will
   * reconnect and resume from the committed offsets) and count watches with
   * UNAVAILABLE (watchers watch again elsewhere or later), let open calls finish
   * within the grace period, then close the database. Every batch is committed
   * before its acknowledgement, in a transaction that commits or leaves no
   * trace, so none is ever left half-done. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.lifecycle.state === "draining") return this.lifecycle.stopped;
    if (this.lifecycle.state === "stopped") return;
    const stopped = this.drain();
    this.lifecycle = { state: "draining", stopped };
    await stopped;
    this.lifecycle = { state: "stopped" };
  }

  private async drain(): Promise<void> {
    this.log.info({ graceMs: this.config.shutdownGraceMs }, "aggregator stopping");
    this.setHealth("NOT_SERVING");
    this.ingest.closeAll("aggregator is shutting down");
    this.query.stop("aggregator is shutting down");
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, this.config.shutdownGraceMs);
      force.unref();
      this.grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.narrowReceiveWindows?.();
    await this.httpServer.stop();
    for (const files of this.credentialFiles()) files.stop();
    // Batches decided but not committed yet; their streams are gone, and a resend will find them committed.
    await this.committer.flush();
    this.writeHealth.stop();
    clearTimeout(this.refreshTimer);
    await this.store.close();
    this.log.info("aggregator stopped");
  }

  /**
   * While running, the server ("") and Query are SERVING; Ingest only while
   * the state can be written. Liveness asks "": an aggregator waiting for a
   * full disk or an unreachable database is alive, and restarting it would
   * not help. Readiness asks Ingest.
   */
  private reportHealth(): void {
    const running = this.lifecycle.state === "running";
    const unwritable = this.writeHealth.current;
    this.metrics.stateWritable.reset();
    this.metrics.stateWritable.set(unwritable ? { condition: unwritable.condition } : {}, unwritable ? 0 : 1);
    this.health.setStatus("", running ? "SERVING" : "NOT_SERVING");
    this.health.setStatus("logtally.v1.Query", running ? "SERVING" : "NOT_SERVING");
    this.health.setStatus("logtally.v1.Ingest", running && this.writeHealth.writable ? "SERVING" : "NOT_SERVING");
  }

  private setHealth(status: "SERVING" | "NOT_SERVING"): void {
    for (const service of HEALTH_SERVICES) this.health.setStatus(service, status);
  }
}

import { status } from "@grpc/grpc-js";
import type { Hello, IngestClient, Welcome__Output } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import type { CredentialFiles } from "@logtally/runtime";
import { Backoff } from "./ship/backoff";
import { ChangeNotifier } from "./tail/change-notifier";
import { createChannelSecurity } from "./ship/channel-security";
import type { SidecarConfig } from "./config";
import { FileFollower, holdsWhatWasCounted, type Identify } from "./tail/file-follower";
import { ANCHOR_WINDOW_BYTES, type FollowedFile } from "./tail/followed-file";
import { GenerationShipper, type ShipperContext } from "./ship/generation-shipper";
import { ConnectionLost, IngestConnection, SpecRefused, SpecsNotSupported, createIngestClient } from "./ship/ingest-connection";
import { wireSpec } from "./ship/wire-deltas";
import type { SidecarMetrics } from "./metrics";
import { TokenMetadata } from "./ship/token-metadata";
import { Sleeper } from "./ship/sleeper";

type Lifecycle =
  | { readonly state: "idle" }
  | { readonly state: "running"; readonly done: Promise<void> }
  | { readonly state: "draining"; readonly done: Promise<void> }
  | { readonly state: "stopped" };

/** The file being shipped and, after a rewrite in place, the generation it superseded. */
interface Position {
  readonly file: FollowedFile;
  supersede: string;
}

const MAX_SUPERSEDE_ROUNDS = 10;

/**
 * The sidecar: follows one log file (and its rotations) and ships its rows to
 * the aggregator, always resuming from the aggregator's committed offset.
 *
 * Lifecycle: start() begins shipping; drain() (SIGTERM) ships up to the end of
 * the file and waits for the acknowledgements, bounded by drainTimeoutMs;
 * stop() aborts at once. Nothing is acknowledged by the sidecar itself, so an
 * abort loses nothing: the next sidecar resumes from the committed offset.
 */
export class Sidecar {
  private lifecycle: Lifecycle = { state: "idle" };
  private readonly abort = new AbortController();
  /** Aborted by drain() and stop(): a batch lingering for more lines is shipped at once. */
  private readonly drainRequested = new AbortController();
  private readonly linger = new Sleeper(this.drainRequested.signal);
  /** Sleeps between reconnects, cut short by stop(). */
  private readonly reconnectDelay = new Sleeper(this.abort.signal);
  private readonly notifier: ChangeNotifier;
  private readonly backoff = new Backoff(200, 10_000);
  private readonly client: IngestClient;
  /** TLS files read again while the sidecar runs. */
  private readonly credentialFiles: ReadonlyArray<CredentialFiles<unknown>>;
  private readonly token: TokenMetadata;
  private readonly shipperContext: ShipperContext;
  private position: Position | undefined;
  private sequence = 0;
  private connected = false;
  /** The latest connection ended with the aggregator refusing to count (see ConnectionLost.refusal). */
  private refused = false;
  private readonly follower: FileFollower;
  /** Holds the process open while the sidecar runs: its own waits are unref()ed timers. */
  private keepAlive: NodeJS.Timeout | undefined;
  /** Resolves failed(): the sidecar gives up on its own. */
  private giveUp: (refusal: SpecRefused) => void = () => undefined;
  private readonly failure = new Promise<SpecRefused>((resolve) => {
    this.giveUp = resolve;
  });
  /** Hello.spec: undefined for the default spec, which keeps the wire of sidecars before specs. */
  private readonly spec: Hello["spec"];

  /** Reads the credential files, if any: throws CredentialFileError when one is unusable. */
  constructor(
    private readonly config: SidecarConfig,
    private readonly metrics: SidecarMetrics,
    private readonly log: Logger,
  ) {
    this.notifier = new ChangeNotifier(config.file, config.pollIntervalMs);
    const credentialsLog = log.child({ component: "credentials" });
    const security = createChannelSecurity(config.tls, credentialsLog);
    this.credentialFiles = security.files;
    this.token = new TokenMetadata(config.tokenFile, credentialsLog);
    this.client = createIngestClient(config.aggregator, security);
    this.spec = wireSpec(config.counting.spec);
    this.shipperContext = {
      path: config.file,
      rules: config.counting,
      maxLineBytes: config.maxLineBytes,
      batchMaxBytes: config.batchMaxBytes,
      batchLingerMs: config.batchLingerMs,
      batchesInFlight: config.batchesInFlight,
      rotateGraceMs: config.rotateGraceMs,
      readBuffer: Buffer.allocUnsafe(ANCHOR_WINDOW_BYTES + config.readBufferBytes),
      notifier: this.notifier,
      metrics,
      log,
      draining: () => this.lifecycle.state === "draining",
      signal: this.abort.signal,
      linger: this.linger,
      nextSequence: () => ++this.sequence,
      acknowledged: () => {
        this.refused = false;
        this.backoff.reset();
      },
    };
    this.follower = new FileFollower({
      path: config.file,
      maxRotatedFiles: config.maxRotatedFiles,
      notifier: this.notifier,
      signal: this.abort.signal,
      draining: () => this.lifecycle.state === "draining",
      log,
    });
  }

  /**
   * Resolves when the sidecar stopped shipping for good on its own: the
   * aggregator refused its counting spec, which only new flags can fix.
   * Never resolves otherwise. The caller then stops it and exits non-zero.
   */
  failed(): Promise<SpecRefused> {
    return this.failure;
  }

  /** True while a stream to the aggregator is open and answered. */
  isConnected(): boolean {
    return this.connected;
  }

  /** Starts shipping in the background. */
  start(): void {
    if (this.lifecycle.state !== "idle") throw new Error(`cannot start a sidecar that is ${this.lifecycle.state}`);
    this.notifier.start();
    for (const files of this.credentialFiles) files.start(this.config.credentialsReloadMs);
    this.follower.markStart();
    this.keepAlive = setInterval(() => undefined, 1 << 30);
    const { file, aggregator, sourceId, tls, tokenFile, counting } = this.config;
    this.log.info(
      {
        file,
        aggregator,
        sourceId,
        transport: tls ? "tls" : "plaintext",
        token: tokenFile !== undefined,
        format: counting.format.kind,
        metric: counting.spec.metric,
        labels: counting.spec.labelNames,
        where: counting.where.map((rule) => rule.text),
      },
      "sidecar started",
    );
    this.lifecycle = { state: "running", done: this.run() };
  }

  /**
   * Ships every complete line up to the end of the file, waits for the
   * acknowledgements, then stops. Gives up after drainTimeoutMs. Idempotent.
   */
  async drain(): Promise<void> {
    if (this.lifecycle.state !== "running") return this.stop();
    const { done } = this.lifecycle;
    this.lifecycle = { state: "draining", done };
    this.log.info({ timeoutMs: this.config.drainTimeoutMs }, "draining to the end of the file");
    this.drainRequested.abort();
    this.notifier.stop();
    const timer = setTimeout(() => {
      this.log.warn({ timeoutMs: this.config.drainTimeoutMs }, "drain timed out: stopping with rows unshipped");
      this.abort.abort();
    }, this.config.drainTimeoutMs);
    timer.unref();
    await done;
    clearTimeout(timer);
    await this.stop();
  }

  /** Stops at once; resolves when everything is closed. Idempotent. */
  async stop(): Promise<void> {
    if (this.lifecycle.state === "stopped") return;
    const done = this.lifecycle.state === "idle" ? Promise.resolve() : this.lifecycle.done;
    this.lifecycle = { state: "stopped" };
    this.abort.abort();
    this.drainRequested.abort();
    this.notifier.stop();
    await done;
    await this.position?.file.close();
    this.position = undefined;
    this.client.close();
    for (const files of this.credentialFiles) files.stop();
    clearInterval(this.keepAlive);
    this.log.info("sidecar stopped");
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const connection = new IngestConnection(this.client, this.config.ackTimeoutMs, await this.token.forNewStream(), this.config.batchesInFlight);
      try {
        const finished = await this.session(connection);
        if (finished) return;
      } catch (error) {
        this.connected = false;
        this.metrics.connected.set(0);
        if (signal.aborted) return;
        if (error instanceof SpecRefused) {
          this.giveUp(error);
          return;
        }
        const delayMs = this.backoff.next();
        if (error instanceof SpecsNotSupported) {
          // Likely a rollout that reached the sidecars first (or an aggregator
          // replica not upgraded yet): keep the application's pod running and
          // the rows in the file, and ship once an upgraded aggregator answers.
          this.log.error(
            { metric: this.config.counting.spec.metric, retryInMs: delayMs },
            "the aggregator does not support counting specs (--metric/--label other than the default): upgrade the aggregator; nothing is shipped until then",
          );
        } else if (error instanceof ConnectionLost && error.code === status.UNAUTHENTICATED) {
          this.metrics.reconnects.inc();
          this.log.error(
            { err: error.message, retryInMs: delayMs },
            "aggregator refused the credentials: check --token-file (it is read again before each retry)",
          );
        } else if (error instanceof ConnectionLost && error.refusal !== undefined) {
          // The aggregator answers but cannot count now (its disk is full, say): wait longer each time.
          this.refused = true;
          this.metrics.reconnects.inc();
          this.log.warn({ reason: error.refusal, retryInMs: delayMs }, `aggregator cannot count now: ${error.refusal}`);
        } else if (error instanceof ConnectionLost) {
          this.metrics.reconnects.inc();
          this.log.warn({ err: error.message, retryInMs: delayMs }, "aggregator unreachable: will resume from its committed offset");
        } else {
          this.log.error({ err: error, retryInMs: delayMs }, "shipping failed");
        }
        await this.reconnectDelay.sleep(delayMs);
      } finally {
        connection.close();
      }
    }
  }

  /** Ships over one connection; true when the sidecar is done (drained or stopped). */
  private async session(connection: IngestConnection): Promise<boolean> {
    const signal = this.abort.signal;
    this.position ??= await this.startPosition(connection);
    if (!this.position) return true;
    while (!signal.aborted) {
      const position: Position = this.position;
      const fileId = await this.follower.waitForFileId(position.file);
      if (fileId === undefined) return true;
      if (fileId !== "rotated") {
        const welcome = await this.announce(connection, position, fileId);
        if (!welcome) continue;
        const previous = await this.follower.previousElsewhere(position.file, welcome, this.identifier(connection));
        if (previous) {
          // The live file waits: the follower's next() comes back to it once the previous one is drained.
          await position.file.close();
          this.position = { file: previous, supersede: "" };
          continue;
        }
        this.connected = true;
        this.metrics.connected.set(1);
        // A welcome proves the aggregator reachable, not able to count: after a refusal, only an acknowledgement resets the backoff.
        if (!this.refused) this.backoff.reset();
        const shipper = new GenerationShipper(
          this.shipperContext,
          connection,
          position.file,
          welcome.generation,
          Number(welcome.committedOffset),
          welcome.anchor,
        );
        const end = await shipper.run();
        if (end === "drained") return true;
        if (end === "rewritten") {
          position.supersede = welcome.generation;
          this.metrics.generations.inc({ reason: "rewritten" });
          continue;
        }
      }
      const next = await this.follower.next(position.file);
      if (!next) return true;
      await position.file.close();
      this.position = { file: next, supersede: "" };
      this.metrics.generations.inc({ reason: "rotated" });
    }
    return true;
  }

  /**
   * Announces a file and returns its generation to ship, checking that the
   * bytes before the committed offset are those the aggregator counted: if
   * not, the file was rewritten in place and its next generation starts at 0.
   * Undefined when the file's first line changed meanwhile: its id must be
   * read again, or the same rows could be shipped under two identities.
   */
  private async announce(connection: IngestConnection, position: Position, fileId: string): Promise<Welcome__Output | undefined> {
    for (let round = 0; round < MAX_SUPERSEDE_ROUNDS; round++) {
      const welcome = await connection.hello(
        {
          sourceId: this.config.sourceId,
          fileId,
          sidecarId: this.config.sidecarId,
          supersedeGeneration: position.supersede,
          spec: this.spec,
        },
        this.abort.signal,
      );
      if (await holdsWhatWasCounted(position.file, welcome)) {
        this.log.info(
          { file: position.file.openedAs, generation: welcome.generation, committedOffset: Number(welcome.committedOffset) },
          "resuming from the committed offset",
        );
        return welcome;
      }
      // Only a file that still starts with the same line continues this
      // identity in a next generation; any other is a new file id.
      if ((await position.file.fileId()) !== fileId) {
        position.supersede = "";
        return undefined;
      }
      this.log.warn(
        { file: position.file.openedAs, generation: welcome.generation, committedOffset: Number(welcome.committedOffset) },
        "file no longer matches what was counted: starting its next generation",
      );
      position.supersede = welcome.generation;
    }
    throw new Error(`file ${position.file.openedAs} kept changing while its generation was being agreed`);
  }

  /** The first file to ship, as the aggregator's records place it (see FileFollower.chooseStart). */
  private async startPosition(connection: IngestConnection): Promise<Position | undefined> {
    const file = await this.follower.chooseStart(this.identifier(connection));
    if (!file) return undefined;
    this.metrics.generations.inc({ reason: "start" });
    return { file, supersede: "" };
  }

  /** Asks the aggregator, over `connection`, what it knows of a file id (a Hello that supersedes nothing). */
  private identifier(connection: IngestConnection): Identify {
    const { sourceId, sidecarId } = this.config;
    return (fileId) => connection.hello({ sourceId, fileId, sidecarId, supersedeGeneration: "", spec: this.spec }, this.abort.signal);
  }
}

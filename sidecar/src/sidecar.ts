import { status } from "@grpc/grpc-js";
import type { CredentialFiles, IngestClient, Logger, Welcome__Output } from "@logtally/proto";
import { Backoff, sleep } from "./backoff";
import { ChangeNotifier } from "./change-notifier";
import { createChannelSecurity } from "./channel-security";
import type { SidecarConfig } from "./config";
import { ANCHOR_WINDOW_BYTES, FollowedFile, inodeOfFileId, sameBirth } from "./followed-file";
import { GenerationShipper, type ShipperContext } from "./generation-shipper";
import { ConnectionLost, IngestConnection, createIngestClient } from "./ingest-connection";
import type { SidecarMetrics } from "./metrics";
import { inodeOf, inodeOfSync, listRotationChain, nextInChain, type ChainLink } from "./rotation";
import { TokenMetadata } from "./token-metadata";

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
  /** Inode of the live file when start() was called: where a new source begins. */
  private liveInodeAtStart: number | undefined;
  /** Holds the process open while the sidecar runs: its own waits are unref()ed timers. */
  private keepAlive: NodeJS.Timeout | undefined;

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
    this.shipperContext = {
      path: config.file,
      maxLineBytes: config.maxLineBytes,
      batchMaxBytes: config.batchMaxBytes,
      batchLingerMs: config.batchLingerMs,
      rotateGraceMs: config.rotateGraceMs,
      readBuffer: Buffer.allocUnsafe(ANCHOR_WINDOW_BYTES + config.readBufferBytes),
      notifier: this.notifier,
      metrics,
      log,
      draining: () => this.lifecycle.state === "draining",
      signal: this.abort.signal,
      lingerSignal: this.drainRequested.signal,
      nextSequence: () => ++this.sequence,
    };
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
    this.liveInodeAtStart = inodeOfSync(this.config.file);
    this.keepAlive = setInterval(() => undefined, 1 << 30);
    const { file, aggregator, sourceId, tls, tokenFile } = this.config;
    this.log.info({ file, aggregator, sourceId, transport: tls ? "tls" : "plaintext", token: tokenFile !== undefined }, "sidecar started");
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
      const connection = new IngestConnection(this.client, this.config.ackTimeoutMs, await this.token.forNewStream());
      try {
        const finished = await this.session(connection);
        if (finished) return;
      } catch (error) {
        this.connected = false;
        this.metrics.connected.set(0);
        if (signal.aborted) return;
        const delayMs = this.backoff.next();
        if (error instanceof ConnectionLost && error.code === status.UNAUTHENTICATED) {
          this.metrics.reconnects.inc();
          this.log.error({ err: error.message, retryInMs: delayMs }, "aggregator refused the credentials: check --token-file (it is read again before each retry)");
        } else if (error instanceof ConnectionLost) {
          this.metrics.reconnects.inc();
          this.log.warn({ err: error.message, retryInMs: delayMs }, "aggregator unreachable: will resume from its committed offset");
        } else {
          this.log.error({ err: error, retryInMs: delayMs }, "shipping failed");
        }
        await sleep(delayMs, signal);
      } finally {
        connection.close();
      }
    }
  }

  /** Ships over one connection; true when the sidecar is done (drained or stopped). */
  private async session(connection: IngestConnection): Promise<boolean> {
    const signal = this.abort.signal;
    this.position ??= await this.chooseStartFile(connection);
    if (!this.position) return true;
    while (!signal.aborted) {
      const position: Position = this.position;
      const fileId = await this.waitForFileId(position.file);
      if (fileId === undefined) return true;
      if (fileId !== "rotated") {
        const welcome = await this.announce(connection, position, fileId);
        if (!welcome) continue;
        this.connected = true;
        this.metrics.connected.set(1);
        this.backoff.reset();
        const shipper = new GenerationShipper(this.shipperContext, connection, position.file, welcome.generation, Number(welcome.committedOffset));
        const end = await shipper.run();
        if (end === "drained") return true;
        if (end === "rewritten") {
          position.supersede = welcome.generation;
          this.metrics.generations.inc({ reason: "rewritten" });
          continue;
        }
      }
      const next = await this.nextFile(position.file);
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
      const welcome = await connection.hello({
        sourceId: this.config.sourceId,
        fileId,
        sidecarId: this.config.sidecarId,
        supersedeGeneration: position.supersede,
      }, this.abort.signal);
      if (await this.holdsWhatWasCounted(position.file, welcome)) {
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

  /**
   * Picks the first file to read, from the rotation chain (oldest … live):
   * - the newest file the aggregator knows: the files after it were never
   *   shipped;
   * - the live file, when it has the inode of the source's latest file: that
   *   file was truncated in place (plainly, or by copytruncate, whose copies
   *   hold rows already counted) and holds only rows never shipped;
   * - for a known source without a known file in the chain (its last file
   *   deleted, or truncated to nothing and rotated), the oldest file written
   *   since the source began;
   * - for a new source, the file that was live when this sidecar started,
   *   even if rotated since: older files are history from before the source.
   */
  private async chooseStartFile(connection: IngestConnection): Promise<Position | undefined> {
    const chain = await listRotationChain(this.config.file, this.config.maxRotatedFiles);
    const opened: Array<{ file: FollowedFile; link: ChainLink; known: boolean }> = [];
    let sourceCreatedMs = 0;
    let latest: { ino?: number; birthMs: number } = { birthMs: 0 };
    try {
      for (const link of chain) {
        const file = await FollowedFile.open(link.path);
        if (!file) continue;
        opened.push({ file, link, known: false });
        const fileId = await file.fileId();
        if (fileId === undefined) continue;
        const welcome = await connection.hello({ sourceId: this.config.sourceId, fileId, sidecarId: this.config.sidecarId, supersedeGeneration: "" }, this.abort.signal);
        opened.at(-1)!.known = welcome.known && (await this.holdsWhatWasCounted(file, welcome));
        sourceCreatedMs = Number(welcome.sourceCreatedUnixMillis);
        latest = { ino: inodeOfFileId(welcome.sourceLatestFileId), birthMs: welcome.sourceLatestFileBirthUnixMillis };
      }
    } catch (error) {
      // The connection broke: the next session lists the chain again.
      for (const { file } of opened) await file.close();
      throw error;
    }
    const live = opened.at(-1)?.link.path === this.config.file ? opened.at(-1) : undefined;
    const start =
      opened.findLast(({ known }) => known) ??
      (live && live.file.ino === latest.ino && sameBirth(live.file.birthMs, latest.birthMs) ? live : undefined) ??
      (sourceCreatedMs > 0
        ? opened.find(({ link }) => link.mtimeMs >= sourceCreatedMs)
        : opened.find(({ file }) => file.ino === this.liveInodeAtStart));
    for (const { file } of opened) if (file !== start?.file) await file.close();
    this.log.info({ file: start?.file.openedAs ?? this.config.file, known: start?.known ?? false, sourceCreatedMs }, "starting with file");
    if (start) {
      this.metrics.generations.inc({ reason: "start" });
      return { file: start.file, supersede: "" };
    }
    const appeared = await this.waitForFile(this.config.file);
    if (appeared) this.metrics.generations.inc({ reason: "start" });
    return appeared && { file: appeared, supersede: "" };
  }

  /**
   * Whether `file` still holds what the welcomed generation counted: the same
   * file (a new one can get a deleted file's inode and first line, and so its
   * id) with the same bytes before the committed offset.
   */
  private async holdsWhatWasCounted(file: FollowedFile, welcome: Welcome__Output): Promise<boolean> {
    const committed = Number(welcome.committedOffset);
    if (committed === 0) return true;
    return sameBirth(file.birthMs, welcome.fileBirthUnixMillis) && (await file.anchorAt(committed)) === welcome.anchor;
  }

  /** The file after `current` in the rotation chain, waiting for one to exist. */
  private async nextFile(current: FollowedFile): Promise<FollowedFile | undefined> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const drainingBeforeList = this.lifecycle.state === "draining";
      const chain = await listRotationChain(this.config.file, this.config.maxRotatedFiles);
      const link = nextInChain(chain, current.ino);
      if (link) {
        const file = await FollowedFile.open(link.path);
        // The chain may have rotated again between listing and opening.
        if (file && file.ino === link.ino) {
          this.log.info({ from: current.openedAs, to: link.path }, "following rotation");
          return file;
        }
        await file?.close();
        continue;
      }
      if (drainingBeforeList) return undefined;
      await this.notifier.wait(signal);
    }
    return undefined;
  }

  private async waitForFile(path: string): Promise<FollowedFile | undefined> {
    let logged = false;
    while (!this.abort.signal.aborted) {
      const drainingBeforeOpen = this.lifecycle.state === "draining";
      const file = await FollowedFile.open(path);
      if (file) return file;
      if (drainingBeforeOpen) return undefined;
      if (!logged) this.log.info({ file: path }, "waiting for the file to appear");
      logged = true;
      await this.notifier.wait(this.abort.signal);
    }
    return undefined;
  }

  /**
   * Waits until the file has a complete first line and returns its id;
   * "rotated" when it was renamed away or deleted before it had one (nothing
   * in it can be counted); undefined when stopped, or draining with nothing
   * to ship.
   */
  private async waitForFileId(file: FollowedFile): Promise<string | undefined> {
    while (!this.abort.signal.aborted) {
      // Seen before the read, as in GenerationShipper.run.
      const drainingBeforeRead = this.lifecycle.state === "draining";
      const fileId = await file.fileId();
      if (fileId !== undefined) return fileId;
      if ((await inodeOf(this.config.file)) !== file.ino) {
        // One more look: the writer may have completed the line before moving on.
        return (await file.fileId()) ?? "rotated";
      }
      if (drainingBeforeRead) return undefined;
      await this.notifier.wait(this.abort.signal);
    }
    return undefined;
  }
}



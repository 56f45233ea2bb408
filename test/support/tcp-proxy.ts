import * as net from "node:net";
import { performance } from "node:perf_hooks";

/**
 * How a {@link TcpFaultProxy} treats traffic. A mode applies to bytes as they
 * arrive; bytes already held keep their place in line whatever the mode.
 */
export type ProxyMode =
  /** Forward both ways. */
  | { readonly kind: "pass" }
  /** Accept new connections, then destroy them at once; open ones keep working. */
  | { readonly kind: "refuse" }
  /** Keep connections open but forward nothing either way; held bytes go out, in order, when the mode changes. */
  | { readonly kind: "stall" }
  /** Forward client → server at once; deliver each server → client chunk `delayMs` after it arrived, in order. */
  | { readonly kind: "delay"; readonly delayMs: number };

/** Counters since start: connections accepted (refused ones too), open now, bytes forwarded each way, connections dropped or cut. */
export interface ProxyStats {
  connections: number;
  open: number;
  bytesUp: number;
  bytesDown: number;
  dropped: number;
  cut: number;
}

/** Past this many bytes held in one direction of one connection, its source socket is paused. */
const MAX_HELD_BYTES = 8 * 1024 * 1024;

/** A chunk waiting in one direction; `chunk: null` stands for the end of the stream (FIN). */
interface Held {
  readonly chunk: Buffer | null;
  readonly dueAtMs: number;
}

/** One direction of a connection: `from`'s bytes, in arrival order, on their way to `to`. */
interface Direction {
  readonly from: net.Socket;
  readonly to: net.Socket;
  readonly upstream: boolean;
  readonly queue: Held[];
  queuedBytes: number;
  timer: NodeJS.Timeout | undefined;
}

/** A client connection and its connection to the target. */
interface Link {
  state: "open" | "cutting" | "closed";
  readonly client: net.Socket;
  readonly server: net.Socket;
  readonly directions: readonly [up: Direction, down: Direction];
  /** Set by cutMidMessage: called once the link is closed. */
  cutWaiters: Array<() => void> | undefined;
}

/**
 * A TCP proxy on 127.0.0.1 that forwards to one target and injects network
 * faults on command: refused connections, stalled or delayed bytes, every
 * connection dropped, a message cut in the middle. Within a direction bytes
 * are never reordered, duplicated or skipped, only held or lost with the
 * connection. A peer resetting its socket is normal here and never throws.
 * Each direction of each connection holds at most ~8 MiB before the proxy
 * stops reading from its source (TCP backpressure).
 */
export class TcpFaultProxy {
  /** The port it listens on. */
  readonly port: number;
  /** `127.0.0.1:<port>`, the address to give a client instead of the target's. */
  readonly address: string;
  private mode: ProxyMode = { kind: "pass" };
  private readonly links = new Set<Link>();
  private readonly counters: ProxyStats = { connections: 0, open: 0, bytesUp: 0, bytesDown: 0, dropped: 0, cut: 0 };
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
  ) {
    this.port = (server.address() as net.AddressInfo).port;
    this.address = `127.0.0.1:${this.port}`;
    server.on("connection", (client) => this.accept(client));
    // A failed accept (EMFILE, say) loses that one connection; the proxy keeps listening.
    server.on("error", () => undefined);
  }

  /** Listens on 127.0.0.1 on a free port, forwarding every connection to `target`, in `pass` mode. */
  static async start(target: { host: string; port: number }): Promise<TcpFaultProxy> {
    // Half-open sockets let a FIN travel through the proxy in order, after the bytes before it.
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new TcpFaultProxy(server, target);
  }

  /**
   * Switches mode. Leaving `stall` sends what it held, in order. Bytes a
   * `delay` already held keep their due time, so none arrives early and none
   * overtakes them; a negative or non-finite `delayMs` throws a RangeError.
   */
  setMode(mode: ProxyMode): void {
    if (mode.kind === "delay" && !(Number.isFinite(mode.delayMs) && mode.delayMs >= 0)) {
      throw new RangeError(`delayMs must be a finite number >= 0, got ${mode.delayMs}`);
    }
    this.mode = mode;
    for (const link of this.links) for (const direction of link.directions) this.pump(link, direction);
  }

  /** Destroys every open connection, both sockets, now: a broken network path. Held bytes are lost. */
  dropAll(): void {
    for (const link of [...this.links]) {
      this.counters.dropped++;
      this.close(link);
    }
  }

  /**
   * On each connection open now, forwards only the first half of the next
   * chunk it forwards (either direction, after what is already held), then
   * destroys both sockets. Resolves when each of them has been cut or has
   * closed otherwise; at once when none is open. In `stall` mode nothing is
   * forwarded, so the cut waits for the mode to change.
   */
  cutMidMessage(): Promise<void> {
    return Promise.all(
      [...this.links].map(
        (link) =>
          new Promise<void>((resolve) => {
            (link.cutWaiters ??= []).push(resolve);
            for (const direction of link.directions) this.pump(link, direction);
          }),
      ),
    ).then(() => undefined);
  }

  /** A snapshot of the counters. */
  stats(): ProxyStats {
    return { ...this.counters, open: this.links.size };
  }

  /** Stops listening and destroys every connection; resolves once the listener is closed. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const link of [...this.links]) this.close(link);
    });
    return this.stopped;
  }

  private accept(client: net.Socket): void {
    this.counters.connections++;
    client.on("error", () => undefined);
    if (this.mode.kind === "refuse" || this.stopped) {
      client.destroy();
      return;
    }
    const server = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    server.on("error", () => undefined);
    const direction = (from: net.Socket, to: net.Socket, upstream: boolean): Direction => ({ from, to, upstream, queue: [], queuedBytes: 0, timer: undefined });
    const link: Link = {
      state: "open",
      client,
      server,
      directions: [direction(client, server, true), direction(server, client, false)],
      cutWaiters: undefined,
    };
    this.links.add(link);
    for (const dir of link.directions) {
      dir.from.on("data", (chunk: Buffer) => this.hold(link, dir, chunk));
      dir.from.on("end", () => this.hold(link, dir, null));
      dir.to.on("drain", () => this.pump(link, dir));
      // A reset, or a close we did not get to by forwarding its FIN, takes the
      // other socket with it. After a clean FIN both ways the link winds down
      // by itself once the last held bytes are out.
      dir.from.on("close", (hadError: boolean) => {
        if (hadError || !dir.from.readableEnded || (client.closed && server.closed)) this.close(link);
      });
    }
  }

  private hold(link: Link, direction: Direction, chunk: Buffer | null): void {
    if (link.state === "closed") return;
    const delayMs = this.mode.kind === "delay" && !direction.upstream ? this.mode.delayMs : 0;
    direction.queue.push({ chunk, dueAtMs: performance.now() + delayMs });
    direction.queuedBytes += chunk?.length ?? 0;
    this.pump(link, direction);
  }

  /** Forwards what is due and allowed, then pauses or resumes the source by what is left. */
  private pump(link: Link, direction: Direction): void {
    const { queue, to } = direction;
    while (link.state === "open" && this.mode.kind !== "stall" && !to.writableNeedDrain) {
      const head = queue[0];
      if (!head) break;
      const waitMs = head.dueAtMs - performance.now();
      if (waitMs > 0) {
        direction.timer ??= setTimeout(() => {
          direction.timer = undefined;
          this.pump(link, direction);
        }, Math.ceil(waitMs)).unref();
        break;
      }
      queue.shift();
      if (head.chunk === null) {
        to.end();
        continue;
      }
      direction.queuedBytes -= head.chunk.length;
      if (link.cutWaiters) {
        link.state = "cutting";
        this.counters.cut++;
        this.forward(direction, head.chunk.subarray(0, head.chunk.length >> 1), () => this.close(link));
        return;
      }
      this.forward(direction, head.chunk);
    }
    if (link.state !== "open") return;
    if (direction.queuedBytes > MAX_HELD_BYTES) direction.from.pause();
    else if (direction.from.isPaused()) direction.from.resume();
  }

  private forward(direction: Direction, chunk: Buffer, written?: () => void): void {
    if (direction.upstream) this.counters.bytesUp += chunk.length;
    else this.counters.bytesDown += chunk.length;
    direction.to.write(chunk, written);
  }

  private close(link: Link): void {
    if (link.state === "closed") return;
    link.state = "closed";
    this.links.delete(link);
    for (const direction of link.directions) {
      clearTimeout(direction.timer);
      direction.queue.length = 0;
      direction.queuedBytes = 0;
    }
    link.client.destroy();
    link.server.destroy();
    for (const resolve of link.cutWaiters ?? []) resolve();
  }
}

import * as net from "node:net";

/** How the proxy treats traffic. */
export type ProxyMode =
  /** Forward both ways. */
  | { readonly kind: "pass" }
  /** Close new connections at once; open ones keep working. */
  | { readonly kind: "refuse" }
  /** Hold every byte in both directions (in order) until the mode changes. */
  | { readonly kind: "stall" }
  /** Forward client → server at once; deliver server → client bytes `delayMs` late. */
  | { readonly kind: "delay"; readonly delayMs: number };

/** Counters of what the proxy did. */
export interface ProxyStats {
  connections: number;
  open: number;
  bytesUp: number;
  bytesDown: number;
  dropped: number;
  cut: number;
}

// Past this many held bytes per direction, the source is paused (backpressure).
const MAX_HELD_BYTES = 8 * 1024 * 1024;

/** One direction of one connection: bytes from `from` to `to`, held while the mode says so. */
class Pipe {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private timers = new Set<NodeJS.Timeout>();
  /** Set by cutMidMessage: forward half of the next chunk, then call it. */
  cutNext: (() => void) | undefined;

  constructor(
    readonly from: net.Socket,
    readonly to: net.Socket,
    private readonly proxy: TcpFaultProxy,
    private readonly upstream: boolean,
  ) {
    from.on("data", (chunk: Buffer) => this.receive(chunk));
  }

  private receive(chunk: Buffer): void {
    if (this.cutNext) {
      const cut = this.cutNext;
      this.cutNext = undefined;
      this.to.write(chunk.subarray(0, Math.max(0, Math.floor(chunk.length / 2))), () => cut());
      return;
    }
    const mode = this.proxy.mode;
    if (mode.kind === "stall" || this.held.length > 0) {
      this.hold(chunk);
    } else if (mode.kind === "delay" && !this.upstream) {
      this.heldBytes += chunk.length;
      if (this.heldBytes > MAX_HELD_BYTES) this.from.pause();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.heldBytes -= chunk.length;
        this.forward(chunk);
        if (this.heldBytes <= MAX_HELD_BYTES) this.from.resume();
      }, mode.delayMs);
      timer.unref();
      this.timers.add(timer);
    } else {
      this.forward(chunk);
    }
  }

  private hold(chunk: Buffer): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes > MAX_HELD_BYTES) this.from.pause();
  }

  /** Sends what stall held, in order (called when the mode changes). */
  flush(): void {
    if (this.proxy.mode.kind === "stall") return;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const chunk of held) this.forward(chunk);
    this.from.resume();
  }

  private forward(chunk: Buffer): void {
    if (this.to.destroyed) return;
    if (this.upstream) this.proxy.counters.bytesUp += chunk.length;
    else this.proxy.counters.bytesDown += chunk.length;
    this.to.write(chunk);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.held = [];
  }
}

/** One client connection and its upstream connection. */
interface Link {
  readonly client: net.Socket;
  readonly server: net.Socket;
  readonly pipes: [Pipe, Pipe];
}

/**
 * A TCP proxy between sidecars and the aggregator that injects network
 * faults on command: refused, stalled or delayed traffic, every connection
 * dropped, or a message cut in the middle. It never throws on a reset peer.
 */
export class TcpFaultProxy {
  mode: ProxyMode = { kind: "pass" };
  readonly counters: ProxyStats = { connections: 0, open: 0, bytesUp: 0, bytesDown: 0, dropped: 0, cut: 0 };
  private readonly links = new Set<Link>();
  private stopped = false;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
  ) {
    server.on("connection", (client) => this.accept(client));
  }

  /** Listens on 127.0.0.1 on a free port, forwarding to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpFaultProxy> {
    const server = net.createServer();
    const proxy = new TcpFaultProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `127.0.0.1:<port>`, for a client's target address. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Changes the mode; bytes held by `stall` are sent, in order, when it ends. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    for (const link of this.links) for (const pipe of link.pipes) pipe.flush();
  }

  /** Destroys every open connection, as a broken network path would. */
  dropAll(): void {
    for (const link of [...this.links]) {
      this.counters.dropped++;
      this.close(link);
    }
  }

  /**
   * On every open connection, forwards only the first half of the next chunk
   * (either direction), then destroys the connection: a message cut in the
   * middle. Resolves when each connection open now has been cut or closed.
   */
  cutMidMessage(): Promise<void> {
    const waits = [...this.links].map(
      (link) =>
        new Promise<void>((resolve) => {
          const cut = (): void => {
            for (const pipe of link.pipes) pipe.cutNext = undefined;
            if (this.links.has(link)) this.counters.cut++;
            this.close(link);
            resolve();
          };
          for (const pipe of link.pipes) pipe.cutNext = cut;
          link.client.once("close", () => resolve());
        }),
    );
    return Promise.all(waits).then(() => undefined);
  }

  /** A copy of the counters. */
  stats(): ProxyStats {
    return { ...this.counters, open: this.links.size };
  }

  /** Closes the listener and every connection; idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const link of [...this.links]) this.close(link);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.counters.connections++;
    client.on("error", () => undefined);
    if (this.mode.kind === "refuse" || this.stopped) {
      client.destroy();
      return;
    }
    const server = net.connect(this.target.port, this.target.host);
    server.on("error", () => undefined);
    const link: Link = { client, server, pipes: [undefined, undefined] as unknown as [Pipe, Pipe] };
    link.pipes[0] = new Pipe(client, server, this, true);
    link.pipes[1] = new Pipe(server, client, this, false);
    this.links.add(link);
    client.once("close", () => this.close(link));
    server.once("close", () => this.close(link));
  }

  private close(link: Link): void {
    if (!this.links.delete(link)) return;
    for (const pipe of link.pipes) pipe.close();
    link.client.destroy();
    link.server.destroy();
  }
}

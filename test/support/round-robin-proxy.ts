import * as net from "node:net";

/**
 * A TCP proxy that hands each new connection to the next of its upstreams
 * that accepts it, in turn: what a Kubernetes Service does for its pods.
 * An upstream that refuses (its pod gone) is skipped.
 */
export class RoundRobinProxy {
  private next = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private readonly upstreams: readonly string[],
    /** `127.0.0.1:<port>`, the Service's address. */
    readonly address: string,
  ) {}

  /** Listens on a free port of 127.0.0.1 in front of `upstreams` (host:port). */
  static async start(upstreams: readonly string[]): Promise<RoundRobinProxy> {
    let proxy: RoundRobinProxy | undefined;
    const server = net.createServer((client) => proxy!.accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new RoundRobinProxy(server, upstreams, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    return proxy;
  }

  private accept(client: net.Socket, attempt = 0): void {
    this.sockets.add(client);
    client.once("close", () => this.sockets.delete(client));
    if (attempt >= this.upstreams.length) {
      client.destroy();
      return;
    }
    client.pause();
    const [host, port] = this.upstreams[this.next++ % this.upstreams.length]!.split(":") as [string, string];
    const upstream = net.connect({ host, port: Number(port) });
    this.sockets.add(upstream);
    upstream.once("close", () => this.sockets.delete(upstream));
    upstream.once("error", () => {
      upstream.destroy();
      if (!connected) this.accept(client, attempt + 1);
      else client.destroy();
    });
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      client.on("error", () => upstream.destroy());
      client.pipe(upstream).pipe(client);
      client.resume();
    });
    client.once("close", () => upstream.destroy());
  }

  /** Closes the listener and every connection. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

import * as http from "node:http";
import type { AddressInfo, Server } from "node:net";
import type { ListenAddress } from "./flags";
import type { Logger } from "pino";

/** An HTML page and the Content-Security-Policy it is served with. */
export interface HtmlPage {
  readonly html: string;
  readonly contentSecurityPolicy: string;
}

/** What the HTTP endpoints read. */
export interface HttpEndpoints {
  /** Prometheus text exposition. */
  renderMetrics(): Promise<string | Buffer>;
  /** True while the process does its job: serving for the aggregator, shipping for a sidecar. */
  isReady(): boolean;
  /** A page for people at `/`; without it, `/` is not found. */
  renderHomePage?(): HtmlPage;
}

const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The HTTP side of a logtally process: `/metrics` for Prometheus, `/healthz`
 * (the process answers), `/readyz` (it does its job) and, where the process
 * has one, a page for people at `/`.
 */
export class HttpServer {
  private readonly server: http.Server;

  constructor(
    private readonly endpoints: HttpEndpoints,
    private readonly log: Logger,
  ) {
    this.server = http.createServer((request, response) => {
      this.route(request, response).catch((error: unknown) => {
        this.log.error({ err: error, url: request.url }, "http request failed");
        if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" });
        response.end("internal error\n");
      });
    });
    this.server.keepAliveTimeout = 65_000;
  }

  /** Listens; resolves with the bound port (useful with port 0). */
  start(address: ListenAddress): Promise<number> {
    return listenOn(this.server, address);
  }

  /** Stops listening and closes every connection; idempotent. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async route(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?", 1)[0];
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    switch (path) {
      case "/metrics": {
        const body = await this.endpoints.renderMetrics();
        response.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(body);
        return;
      }
      case "/healthz":
        response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      case "/readyz": {
        const ready = this.endpoints.isReady();
        response.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n");
        return;
      }
      case "/": {
        const page = this.endpoints.renderHomePage?.();
        if (!page) return notFound(response);
        response
          .writeHead(200, {
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": page.contentSecurityPolicy,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
          })
          .end(page.html);
        return;
      }
      default:
        notFound(response);
    }
  }
}

function notFound(response: http.ServerResponse): void {
  response.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics, /healthz or /readyz\n");
}

/**
 * Starts `server` listening on `address`; resolves with the bound port (useful
 * with port 0), rejects when the address cannot be bound.
 */
export async function listenOn(server: Server, address: ListenAddress): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

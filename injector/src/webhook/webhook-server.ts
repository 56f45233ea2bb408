import type * as http from "node:http";
import * as https from "node:https";
import type { Logger } from "@logtally/runtime";
import { listenOn, type ListenAddress } from "@logtally/runtime";
import { AdmissionReviewError, admissionReviewResponse, parseAdmissionReview, type AdmissionRequest, type AdmissionVerdict } from "./admission-review";
import { admitPod } from "./pod-admission";
import type { InjectionDefaults } from "../template/sidecar-request";

/** Largest AdmissionReview accepted, in bytes (a Pod is far smaller; etcd's own object limit is 1.5 MiB). */
export const DEFAULT_MAX_REVIEW_BYTES = 4 * 1024 * 1024;

/**
 * How long `stop()` lets requests in flight finish before closing their
 * connections: the API server gives up on the webhook after its
 * timeoutSeconds (5) anyway.
 */
const IN_FLIGHT_GRACE_MS = 5_000;

/** The API server gives up after timeoutSeconds; a request still open after this is not from it. */
const REQUEST_TIMEOUT_MS = 10_000;

/** What the webhook server needs. */
export interface WebhookServerOptions {
  /** PEM certificate chain and key. */
  readonly tls: { readonly cert: Buffer | string; readonly key: Buffer | string };
  /** Image and aggregator of sidecars whose pods' annotations do not say. */
  readonly defaults: InjectionDefaults;
  /** Default {@link DEFAULT_MAX_REVIEW_BYTES}; a larger body is answered 413. */
  readonly maxReviewBytes?: number;
}

type ServerState =
  | { readonly state: "new" }
  | { readonly state: "running" }
  | { readonly state: "stopping"; readonly stopped: Promise<void> }
  | { readonly state: "stopped" };

/**
 * The mutating admission webhook over HTTPS: `POST /mutate` takes an
 * AdmissionReview v1 and answers one that always allows the pod, with a
 * JSONPatch adding the sidecar when the pod opts in; `GET /healthz` answers
 * 200. A pod that cannot be injected is admitted without a patch and with a
 * warning: the webhook never stands between a user and their pod.
 */
export class WebhookServer {
  private readonly server: https.Server;
  private readonly maxReviewBytes: number;
  private lifecycle: ServerState = { state: "new" };

  constructor(
    private readonly options: WebhookServerOptions,
    private readonly log: Logger,
  ) {
    this.maxReviewBytes = options.maxReviewBytes ?? DEFAULT_MAX_REVIEW_BYTES;
    this.server = https.createServer({ cert: options.tls.cert, key: options.tls.key }, (request, response) => {
      this.log.debug({ method: request.method, url: request.url }, "request received");
      // Connections answered while stopping are closed, so that they do not hold the stop up.
      if (this.lifecycle.state === "stopping") response.setHeader("connection", "close");
      this.route(request, response).catch((error: unknown) => {
        this.log.error({ err: error, url: request.url }, "webhook request failed");
        if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" });
        response.end("internal error\n");
      });
    });
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.on("tlsClientError", (error) => this.log.debug({ err: error }, "tls handshake failed"));
  }

  /** Presents `pair` on connections from now on (those open keep theirs). */
  setKeyPair(pair: { readonly cert: Buffer; readonly key: Buffer }): void {
    this.server.setSecureContext({ cert: pair.cert, key: pair.key });
  }

  /** Listens; resolves with the bound port (useful with port 0). Only once. */
  async start(address: ListenAddress): Promise<number> {
    if (this.lifecycle.state !== "new") throw new Error(`cannot start a webhook server that is ${this.lifecycle.state}`);
    this.lifecycle = { state: "running" };
    return listenOn(this.server, address);
  }

  /**
   * Stops accepting connections, lets requests in flight finish (for at most
   * IN_FLIGHT_GRACE_MS), then closes every connection. Idempotent.
   */
  stop(): Promise<void> {
    switch (this.lifecycle.state) {
      case "stopping":
        return this.lifecycle.stopped;
      case "stopped":
        return Promise.resolve();
      case "new":
        this.lifecycle = { state: "stopped" };
        return Promise.resolve();
      case "running": {
        const stopped = new Promise<void>((resolve) => {
          const force = setTimeout(() => this.server.closeAllConnections(), IN_FLIGHT_GRACE_MS).unref();
          this.server.close(() => {
            clearTimeout(force);
            this.lifecycle = { state: "stopped" };
            resolve();
          });
          this.server.closeIdleConnections();
        });
        this.lifecycle = { state: "stopping", stopped };
        return stopped;
      }
    }
  }

  private async route(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?", 1)[0];
    if (path === "/healthz") {
      if (request.method !== "GET" && request.method !== "HEAD") return reply(response, 405, "method not allowed: use GET\n", { allow: "GET, HEAD" });
      return reply(response, 200, "ok\n");
    }
    if (path !== "/mutate") return reply(response, 404, "not found: try POST /mutate or GET /healthz\n");
    if (request.method !== "POST") return reply(response, 405, "method not allowed: POST an AdmissionReview\n", { allow: "POST" });

    const body = await readBody(request, this.maxReviewBytes);
    if (body === "too large") return reply(response, 413, `an AdmissionReview must be at most ${this.maxReviewBytes} bytes\n`);
    let review: ReturnType<typeof parseAdmissionReview>;
    try {
      review = parseAdmissionReview(body.toString("utf8"));
    } catch (error) {
      if (!(error instanceof AdmissionReviewError)) throw error;
      this.log.warn({ reason: error.message }, "bad admission review");
      return reply(response, 400, `${error.message}\n`);
    }
    const verdict = this.decide(review);
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(admissionReviewResponse(review.uid, verdict)));
  }

  /** The verdict on one review, logged. Even an unexpected failure admits the pod, with a warning. */
  private decide(review: AdmissionRequest): AdmissionVerdict {
    const fields = { uid: review.uid, namespace: review.namespace };
    try {
      const admission = admitPod(review, this.options.defaults);
      switch (admission.outcome) {
        case "injected":
          this.log.info({ ...fields, pod: admission.pod, sourceId: admission.sourceId }, "sidecar injected");
          return { patch: admission.patch };
        case "refused":
          this.log.warn({ ...fields, pod: admission.pod, reason: admission.warning }, "sidecar not injected");
          return { warnings: [admission.warning] };
        case "skipped":
          this.log.debug({ ...fields, reason: admission.reason }, "pod left as it is");
          return {};
      }
    } catch (error) {
      this.log.error({ ...fields, err: error }, "sidecar injection failed");
      return { warnings: ["logtally sidecar not injected: the webhook failed; see its log"] };
    }
  }
}

/**
 * Reads a request body of at most `maxBytes`; "too large" for a longer one,
 * which is read to its end and discarded rather than held. A client is only
 * answered once it has sent its whole body: a connection closed while bytes
 * are still arriving is reset, and the client may lose the answer with it.
 * The server's requestTimeout bounds how long that takes.
 */
function readBody(request: http.IncomingMessage, maxBytes: number): Promise<Buffer | "too large"> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] | undefined = Number(request.headers["content-length"] ?? 0) > maxBytes ? undefined : [];
    let length = 0;
    request.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) chunks = undefined;
      chunks?.push(chunk);
    });
    request.once("end", () => resolve(chunks ? Buffer.concat(chunks, length) : "too large"));
    request.once("error", reject);
  });
}

function reply(response: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { "content-type": "text/plain", ...headers }).end(text);
}

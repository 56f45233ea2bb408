import * as grpc from "@grpc/grpc-js";
import { AUTHORIZATION_METADATA_KEY } from "@logtally/proto";
import type { Logger } from "@logtally/runtime";
import { LogThrottle } from "../ingest/log-throttle";
import type { AggregatorMetrics } from "../http/metrics";
import type { TokenVerifier } from "./token-verifier";

/** At most one "not authenticated" log line per reason in this interval. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * The one place calls are authenticated: a server interceptor that, for the
 * services in `protectedServices`, checks the bearer token in the call's
 * metadata before the handler ever sees the call. A call without a valid
 * token ends with UNAUTHENTICATED, is counted in
 * `logtally_auth_failures_total{service,reason}` and logged, at most once per
 * reason every 10 s (with how many were held back), never with the token.
 * Other services (health, reflection) pass untouched: probes need them.
 */
export function createAuthInterceptor(
  verifier: TokenVerifier,
  protectedServices: ReadonlySet<string>,
  metrics: AggregatorMetrics,
  log: Logger,
): grpc.ServerInterceptor {
  const throttle = new LogThrottle(REFUSAL_LOG_INTERVAL_MS);
  return (method, call) => {
    const service = serviceOf(method.path);
    if (!protectedServices.has(service)) return new grpc.ServerInterceptingCall(call);
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const verdict = verifier.verify(metadata.get(AUTHORIZATION_METADATA_KEY));
        if (verdict.ok) return next(metadata);
        metrics.authFailures.inc({ service, reason: verdict.reason });
        const logged = throttle.take(verdict.reason);
        if (logged.log) {
          log.warn({ service, reason: verdict.reason, peer: call.getPeer(), suppressed: logged.suppressed }, "call refused: not authenticated");
        }
        // Not passing the metadata on means the handler never starts.
        call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: verdict.message, metadata: new grpc.Metadata() });
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}

/** `logtally.v1.Ingest` of `/logtally.v1.Ingest/Ship`. */
function serviceOf(path: string): string {
  return path.slice(1, Math.max(1, path.lastIndexOf("/")));
}

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigError } from "@logtally/runtime";
import { parseAggregatorConfig, type AggregatorConfig } from "./config";

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): AggregatorConfig {
  const config = parseAggregatorConfig(argv, env);
  assert.notEqual(config, "help");
  return config as AggregatorConfig;
}

test("defaults: plaintext, no token, Query open, the limits' defaults", () => {
  const config = parse([]);
  assert.equal(config.tls, undefined);
  assert.equal(config.tokenFile, undefined);
  assert.equal(config.queryAuth, "open");
  assert.deepEqual(
    { reload: config.credentialsReloadMs, streams: config.maxIngestStreams, hello: config.helloTimeoutMs, series: config.maxSeries },
    { reload: 10_000, streams: 4096, hello: 10_000, series: 1_000_000 },
  );
});

test("TLS, mutual TLS and the token come from flags or variables", () => {
  const config = parse(["--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key", "--query-auth", "token"], {
    LOGTALLY_TLS_CLIENT_CA: "/tls/ca.crt",
    LOGTALLY_TOKEN_FILE: "/token/token",
    LOGTALLY_MAX_SERIES: "3",
  });
  assert.deepEqual(config.tls, { certFile: "/tls/tls.crt", keyFile: "/tls/tls.key", clientCaFile: "/tls/ca.crt" });
  assert.equal(config.tokenFile, "/token/token");
  assert.equal(config.queryAuth, "token");
  assert.equal(config.maxSeries, 3);
});

test("inconsistent security flags are refused, naming them", () => {
  const refused = (argv: string[], pattern: RegExp) =>
    assert.throws(
      () => parse(argv),
      (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
    );
  refused(["--tls-cert", "a.crt"], /--tls-cert and --tls-key must be given together/);
  refused(["--tls-key", "a.key"], /--tls-cert and --tls-key must be given together/);
  refused(["--tls-client-ca", "ca.crt"], /--tls-client-ca needs --tls-cert/);
  refused(["--query-auth", "token"], /--query-auth=token needs credentials to require/);
  refused(["--query-auth", "closed"], /--query-auth: expected open or token/);
  refused(["--max-series", "0"], /--max-series/);
  refused(["--max-ingest-streams", "0"], /--max-ingest-streams/);
  refused(["--hello-timeout-ms", "5"], /--hello-timeout-ms/);
  // Query may require a client certificate alone.
  assert.equal(parse(["--tls-cert", "a", "--tls-key", "b", "--tls-client-ca", "c", "--query-auth", "token"]).queryAuth, "token");
});

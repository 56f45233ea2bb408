import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
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

test("the store: SQLite in --state-dir by default, or a PostgreSQL URL from --store or a file, which is never repeated in an error", () => {
  assert.deepEqual(parse(["--state-dir", "/data"]).store, { engine: "sqlite", stateDir: "/data" });
  assert.deepEqual(parse([], { LOGTALLY_STORE: "postgres://logtally@db:5432/logtally" }).store, {
    engine: "postgres",
    url: "postgres://logtally@db:5432/logtally",
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-config-"));
  try {
    const file = path.join(dir, "uri");
    fs.writeFileSync(file, "postgresql://logtally:pw@db/logtally\n");
    assert.deepEqual(parse(["--store-file", file]).store, { engine: "postgres", url: "postgresql://logtally:pw@db/logtally" });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const refused = (argv: string[], pattern: RegExp) =>
    assert.throws(
      () => parse(argv),
      (error: unknown) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes("secret"),
    );
  refused(["--store", "mysql://u:secret@db/x"], /--store: expected sqlite or a postgres:\/\/ URL, got a mysql: URL/);
  refused(["--store", "secret and not a URL"], /--store: expected sqlite or a postgres:\/\/ URL$/);
  refused(["--store", "postgres://u:secret@db"], /--store: the URL names no database/);
  refused(["--store-file", "/nonexistent/uri"], /--store-file: cannot read \/nonexistent\/uri/);
});

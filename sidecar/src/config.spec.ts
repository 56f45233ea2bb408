import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as os from "node:os";
import { ConfigError } from "@logtally/runtime";
import { SIDECAR_HELP, parseSidecarConfig, type SidecarConfig } from "./config";
import { DEFAULT_RULES } from "./parse/counting-rules";

const DEFAULT_FILE = "/var/log/app/log.csv";

/** Parses and fails the test on "help". */
function parse(argv: string[], env: NodeJS.ProcessEnv = {}): SidecarConfig {
  const config = parseSidecarConfig(argv, env);
  assert.notEqual(config, "help");
  return config as SidecarConfig;
}

/** Asserts a ConfigError whose message names `--flag`. */
function assertRejects(argv: string[], env: NodeJS.ProcessEnv, flag: string): void {
  assert.throws(
    () => parseSidecarConfig(argv, env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      assert.ok(error.message.includes(`--${flag}`), `message ${JSON.stringify(error.message)} names --${flag}`);
      return true;
    },
  );
}

test("defaults", () => {
  const config = parse([], {});
  assert.deepEqual(config, {
    file: DEFAULT_FILE,
    aggregator: "logtally-aggregator:50051",
    sourceId: `${os.hostname()}:${DEFAULT_FILE}`,
    sidecarId: os.hostname(),
    metricsListen: undefined,
    counting: DEFAULT_RULES,
    maxLineBytes: 65_536,
    batchMaxBytes: 8_388_608,
    batchLingerMs: 400,
    batchesInFlight: 2,
    readBufferBytes: 1_048_576,
    pollIntervalMs: 250,
    rotateGraceMs: 1_000,
    maxRotatedFiles: 5,
    ackTimeoutMs: 30_000,
    drainTimeoutMs: 25_000,
    tls: undefined,
    tokenFile: undefined,
    credentialsReloadMs: 10_000,
    logLevel: "info",
  });
});

test("flags beat environment variables, which beat defaults", () => {
  const env = { LOGTALLY_FILE: "/env/log.csv", LOGTALLY_MAX_LINE_BYTES: "1024", LOGTALLY_LOG_LEVEL: "warn" };
  const fromEnv = parse([], env);
  assert.equal(fromEnv.file, "/env/log.csv");
  assert.equal(fromEnv.maxLineBytes, 1024);
  assert.equal(fromEnv.logLevel, "warn");
  assert.equal(fromEnv.aggregator, "logtally-aggregator:50051");
  const fromFlags = parse(["--file", "/flag/log.csv", "--max-line-bytes=2048", "--log-level", "debug"], env);
  assert.equal(fromFlags.file, "/flag/log.csv");
  assert.equal(fromFlags.maxLineBytes, 2048);
  assert.equal(fromFlags.logLevel, "debug");
});

test("every setting can be given by flag", () => {
  const config = parse([
    "--file=/f.csv",
    "--aggregator=agg:1",
    "--source-id=src",
    "--sidecar-id=car",
    "--metrics-listen=127.0.0.1:9464",
    "--format=jsonl",
    "--metric=http_requests",
    "--label=method=.request.method",
    "--label",
    "status=.status",
    "--where=.level=~warn|error",
    "--max-line-bytes=256",
    "--batch-max-bytes=4096",
    "--batch-linger-ms=0",
    "--batches-in-flight=1",
    "--read-buffer-bytes=8192",
    "--poll-interval-ms=10",
    "--rotate-grace-ms=0",
    "--max-rotated-files=0",
    "--ack-timeout-ms=100",
    "--drain-timeout-ms=0",
    "--tls-ca=/tls/ca.crt",
    "--tls-cert=/tls/tls.crt",
    "--tls-key=/tls/tls.key",
    "--tls-server-name=aggregator.example",
    "--token-file=/token/token",
    "--credentials-reload-ms=100",
    "--log-level=trace",
  ]);
  assert.deepEqual(config, {
    file: "/f.csv",
    aggregator: "agg:1",
    sourceId: "src",
    sidecarId: "car",
    metricsListen: { host: "127.0.0.1", port: 9464 },
    counting: {
      format: { kind: "jsonl" },
      spec: { metric: "http_requests", labelNames: ["method", "status"] },
      labelFields: [
        { kind: "path", keys: ["request", "method"] },
        { kind: "path", keys: ["status"] },
      ],
      where: [{ field: { kind: "path", keys: ["level"] }, match: { kind: "regex", regex: /^(?:warn|error)$/ }, text: ".level=~warn|error" }],
    },
    maxLineBytes: 256,
    batchMaxBytes: 4096,
    batchLingerMs: 0,
    batchesInFlight: 1,
    readBufferBytes: 8192,
    pollIntervalMs: 10,
    rotateGraceMs: 0,
    maxRotatedFiles: 0,
    ackTimeoutMs: 100,
    drainTimeoutMs: 0,
    tls: { caFile: "/tls/ca.crt", identity: { certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" }, serverName: "aggregator.example" },
    tokenFile: "/token/token",
    credentialsReloadMs: 100,
    logLevel: "trace",
  });
});

test("every setting can be given by environment variable", () => {
  const config = parse([], {
    LOGTALLY_FILE: "/f.csv",
    LOGTALLY_AGGREGATOR: "agg:1",
    LOGTALLY_SOURCE_ID: "src",
    LOGTALLY_SIDECAR_ID: "car",
    LOGTALLY_METRICS_LISTEN: "0.0.0.0:9464",
    LOGTALLY_FORMAT: "csv",
    LOGTALLY_DELIMITER: ";",
    LOGTALLY_METRIC: "http_requests",
    LOGTALLY_LABELS: "method=verb,status=3",
    LOGTALLY_WHERE: "level=error\nhost=~web-.*,x",
    LOGTALLY_MAX_LINE_BYTES: "16777216",
    LOGTALLY_BATCH_MAX_BYTES: "268435456",
    LOGTALLY_BATCH_LINGER_MS: "10000",
    LOGTALLY_BATCHES_IN_FLIGHT: "4",
    LOGTALLY_READ_BUFFER_BYTES: "67108864",
    LOGTALLY_POLL_INTERVAL_MS: "60000",
    LOGTALLY_ROTATE_GRACE_MS: "60000",
    LOGTALLY_MAX_ROTATED_FILES: "100",
    LOGTALLY_ACK_TIMEOUT_MS: "600000",
    LOGTALLY_DRAIN_TIMEOUT_MS: "3600000",
    LOGTALLY_TLS_CA: "/tls/ca.crt",
    LOGTALLY_TLS_CERT: "/tls/tls.crt",
    LOGTALLY_TLS_KEY: "/tls/tls.key",
    LOGTALLY_TLS_SERVER_NAME: "aggregator.example",
    LOGTALLY_TOKEN_FILE: "/token/token",
    LOGTALLY_CREDENTIALS_RELOAD_MS: "86400000",
    LOGTALLY_LOG_LEVEL: "fatal",
  });
  assert.deepEqual(config, {
    file: "/f.csv",
    aggregator: "agg:1",
    sourceId: "src",
    sidecarId: "car",
    metricsListen: { host: "0.0.0.0", port: 9464 },
    counting: {
      format: { kind: "csv", delimiter: 0x3b },
      spec: { metric: "http_requests", labelNames: ["method", "status"] },
      labelFields: [
        { kind: "header", name: "verb" },
        { kind: "column", index: 2 },
      ],
      where: [
        { field: { kind: "header", name: "level" }, match: { kind: "equals", value: "error" }, text: "level=error" },
        { field: { kind: "header", name: "host" }, match: { kind: "regex", regex: /^(?:web-.*,x)$/ }, text: "host=~web-.*,x" },
      ],
    },
    maxLineBytes: 16 * 1024 * 1024,
    batchMaxBytes: 256 * 1024 * 1024,
    batchLingerMs: 10_000,
    batchesInFlight: 4,
    readBufferBytes: 64 * 1024 * 1024,
    pollIntervalMs: 60_000,
    rotateGraceMs: 60_000,
    maxRotatedFiles: 100,
    ackTimeoutMs: 600_000,
    drainTimeoutMs: 3_600_000,
    tls: { caFile: "/tls/ca.crt", identity: { certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" }, serverName: "aggregator.example" },
    tokenFile: "/token/token",
    credentialsReloadMs: 86_400_000,
    logLevel: "fatal",
  });
});

test("an empty environment variable counts as unset", () => {
  const config = parse([], { LOGTALLY_FILE: "", LOGTALLY_MAX_LINE_BYTES: "", LOGTALLY_METRICS_LISTEN: "" });
  assert.equal(config.file, DEFAULT_FILE);
  assert.equal(config.maxLineBytes, 65_536);
  assert.equal(config.metricsListen, undefined);
});

test("the source id defaults to namespace/pod:file in Kubernetes", () => {
  const env = { POD_NAMESPACE: "shop", POD_NAME: "web-7d9f-x2x" };
  assert.equal(parse([], env).sourceId, `shop/web-7d9f-x2x:${DEFAULT_FILE}`);
  assert.equal(parse(["--file", "/data/other.csv"], env).sourceId, "shop/web-7d9f-x2x:/data/other.csv");
  assert.equal(parse([], { ...env, LOGTALLY_FILE: "/env.csv" }).sourceId, "shop/web-7d9f-x2x:/env.csv");
});

test("the namespace defaults to `default` when only POD_NAME is set", () => {
  assert.equal(parse([], { POD_NAME: "web-0" }).sourceId, `default/web-0:${DEFAULT_FILE}`);
});

test("outside Kubernetes the source id is hostname:file", () => {
  assert.equal(parse([], {}).sourceId, `${os.hostname()}:${DEFAULT_FILE}`);
  // A namespace alone does not make a pod.
  assert.equal(parse(["--file=/x.csv"], { POD_NAMESPACE: "shop" }).sourceId, `${os.hostname()}:/x.csv`);
});

test("an explicit source id wins over the pod's", () => {
  const env = { POD_NAMESPACE: "shop", POD_NAME: "web-0" };
  assert.equal(parse([], { ...env, LOGTALLY_SOURCE_ID: "shared" }).sourceId, "shared");
  assert.equal(parse(["--source-id", "by-flag"], { ...env, LOGTALLY_SOURCE_ID: "shared" }).sourceId, "by-flag");
});

test("the sidecar id defaults to POD_NAME, then the hostname", () => {
  assert.equal(parse([], { POD_NAME: "web-0" }).sidecarId, "web-0");
  assert.equal(parse([], {}).sidecarId, os.hostname());
  assert.equal(parse([], { POD_NAME: "web-0", LOGTALLY_SIDECAR_ID: "mine" }).sidecarId, "mine");
});

test("an empty POD_NAME counts as unset for both ids", () => {
  const config = parse([], { POD_NAME: "" });
  assert.equal(config.sourceId, `${os.hostname()}:${DEFAULT_FILE}`);
  assert.equal(config.sidecarId, os.hostname());
});

test("an empty POD_NAMESPACE counts as unset", () => {
  assert.equal(parse([], { POD_NAMESPACE: "", POD_NAME: "web-0" }).sourceId, `default/web-0:${DEFAULT_FILE}`);
});

test("metrics-listen is off unless set, parsed when set", () => {
  assert.equal(parse([]).metricsListen, undefined);
  assert.deepEqual(parse(["--metrics-listen", "0.0.0.0:9464"]).metricsListen, { host: "0.0.0.0", port: 9464 });
  assert.deepEqual(parse(["--metrics-listen", "[::1]:9000"]).metricsListen, { host: "::1", port: 9000 });
  assert.deepEqual(parse([], { LOGTALLY_METRICS_LISTEN: "localhost:0" }).metricsListen, { host: "localhost", port: 0 });
});

test("a bad integer names its flag, from a flag or from the environment", () => {
  assertRejects(["--max-line-bytes", "lots"], {}, "max-line-bytes");
  assertRejects(["--batch-max-bytes", "1.5"], {}, "batch-max-bytes");
  assertRejects(["--read-buffer-bytes", "-4096"], {}, "read-buffer-bytes");
  assertRejects([], { LOGTALLY_POLL_INTERVAL_MS: "1e3" }, "poll-interval-ms");
  assertRejects([], { LOGTALLY_ACK_TIMEOUT_MS: " 1000" }, "ack-timeout-ms");
});

test("an integer out of range names its flag", () => {
  assertRejects(["--max-line-bytes", "255"], {}, "max-line-bytes");
  assertRejects(["--max-line-bytes", String(16 * 1024 * 1024 + 1)], {}, "max-line-bytes");
  assertRejects(["--batch-max-bytes", "4095"], {}, "batch-max-bytes");
  assertRejects(["--batch-linger-ms", "10001"], {}, "batch-linger-ms");
  assertRejects([], { LOGTALLY_BATCH_LINGER_MS: "-1" }, "batch-linger-ms");
  assertRejects(["--batches-in-flight", "0"], {}, "batches-in-flight");
  assertRejects([], { LOGTALLY_BATCHES_IN_FLIGHT: "5" }, "batches-in-flight");
  assertRejects(["--read-buffer-bytes", String(64 * 1024 * 1024 + 1)], {}, "read-buffer-bytes");
  assertRejects(["--poll-interval-ms", "9"], {}, "poll-interval-ms");
  assertRejects(["--rotate-grace-ms", "60001"], {}, "rotate-grace-ms");
  assertRejects(["--max-rotated-files", "101"], {}, "max-rotated-files");
  assertRejects(["--ack-timeout-ms", "99"], {}, "ack-timeout-ms");
  assertRejects([], { LOGTALLY_DRAIN_TIMEOUT_MS: "3600001" }, "drain-timeout-ms");
});

test("a bad listen address, log level or empty file names its flag", () => {
  assertRejects(["--metrics-listen", "9464"], {}, "metrics-listen");
  assertRejects([], { LOGTALLY_METRICS_LISTEN: "host:99999" }, "metrics-listen");
  assertRejects(["--log-level", "verbose"], {}, "log-level");
  assertRejects(["--file="], {}, "file");
});

test("an unknown flag or a flag without its value is a ConfigError naming it", () => {
  assertRejects(["--bogus", "1"], {}, "bogus");
  assertRejects(["--file"], {}, "file");
  assert.throws(() => parseSidecarConfig(["stray-positional"], {}), ConfigError);
});

test("--help and -h ask for help", () => {
  assert.equal(parseSidecarConfig(["--help"], {}), "help");
  assert.equal(parseSidecarConfig(["-h"], {}), "help");
  assert.equal(parseSidecarConfig(["--file", "/x.csv", "--help"], { LOGTALLY_MAX_LINE_BYTES: "oops" }), "help");
});

test("the help text lists every flag and its variable", () => {
  const flags = [
    "file",
    "aggregator",
    "source-id",
    "sidecar-id",
    "metrics-listen",
    "max-line-bytes",
    "batch-max-bytes",
    "read-buffer-bytes",
    "poll-interval-ms",
    "rotate-grace-ms",
    "max-rotated-files",
    "ack-timeout-ms",
    "drain-timeout-ms",
    "tls-ca",
    "tls-cert",
    "tls-key",
    "tls-server-name",
    "token-file",
    "credentials-reload-ms",
    "log-level",
  ];
  for (const flag of flags) {
    assert.ok(SIDECAR_HELP.includes(`--${flag} `), `help lists --${flag}`);
    assert.ok(SIDECAR_HELP.includes(`[LOGTALLY_${flag.toUpperCase().replaceAll("-", "_")}]`), `help lists the variable of --${flag}`);
  }
  assert.ok(SIDECAR_HELP.includes(`(default: ${DEFAULT_FILE})`));
});

test("--tls alone trusts the system's roots; any other --tls-* flag implies it", () => {
  assert.deepEqual(parse(["--tls"]).tls, { caFile: undefined, identity: undefined, serverName: undefined });
  assert.deepEqual(parse([], { LOGTALLY_TLS_CA: "/ca.crt" }).tls, { caFile: "/ca.crt", identity: undefined, serverName: undefined });
  assert.deepEqual(parse(["--tls-server-name", "agg"]).tls, { caFile: undefined, identity: undefined, serverName: "agg" });
  assert.ok(SIDECAR_HELP.includes("  --tls\n"), "--tls is a switch");
  assertRejects(["--tls-cert", "/tls.crt"], {}, "tls-key");
  assertRejects(["--tls-key", "/tls.key"], {}, "tls-cert");
});

test("the config is frozen", () => {
  const config = parse([]);
  assert.ok(Object.isFrozen(config));
  assert.equal(Reflect.set(config, "file", "/elsewhere.csv"), false);
  assert.equal(Reflect.deleteProperty(config, "aggregator"), false);
  assert.equal(config.file, DEFAULT_FILE);
});

test("a source or sidecar id the aggregator would refuse fails at start-up", () => {
  assertRejects(["--source-id", "bad\u0001id"], {}, "source-id");
  assertRejects(["--source-id", "x".repeat(513)], {}, "source-id");
  assertRejects(["--sidecar-id", "line\nbreak"], {}, "sidecar-id");
  // A file path too long for the default source id is caught the same way.
  assertRejects(["--file", `/var/log/${"x".repeat(600)}.csv`], {}, "source-id");
  assert.equal(parse(["--source-id", "x".repeat(512)]).sourceId.length, 512);
});

test("a bad value from the environment names the variable", () => {
  assert.throws(() => parseSidecarConfig([], { LOGTALLY_MAX_LINE_BYTES: "lots" }), /LOGTALLY_MAX_LINE_BYTES \(--max-line-bytes\)/);
});

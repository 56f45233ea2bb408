import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { TestCertificateAuthority } from "../support/certificates";
import { shipAsSidecar } from "../support/ingest-client";
import {
  AGGREGATOR_MAIN,
  INJECTOR_MAIN,
  PROCESS_TIMEOUT_MS,
  REPO_ROOT,
  RunningProcess,
  SIDECAR_MAIN,
  freePort,
  programEnv,
  runToExit,
} from "@logtally/testing";
import { SCHEMA_VERSION } from "@logtally/aggregator";
import { startAggregator, startSidecar } from "../support/processes";
import { aggregatorCounts, sorted, waitUntilSettled } from "../support/query";
import { TcpFaultProxy } from "../support/tcp-proxy";
import { waitFor } from "../support/wait";

/** Runs a command to its end; resolves with its stdout, rejects with its stderr. */
function execFileText(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { env: programEnv() }, (error, stdout, stderr) =>
      error ? reject(new Error(`${file} ${args.join(" ")}: ${stderr || error.message}`)) : resolve(stdout),
    ),
  );
}

/** One flag as `--help` must document it. */
interface DocumentedFlag {
  readonly flag: string;
  readonly env: string;
  /** Undefined when the flag has no default (unset unless given). */
  readonly default?: string;
}

const AGGREGATOR_FLAGS: readonly DocumentedFlag[] = [
  { flag: "grpc-listen", env: "LOGTALLY_GRPC_LISTEN", default: "0.0.0.0:50051" },
  { flag: "metrics-listen", env: "LOGTALLY_METRICS_LISTEN", default: "0.0.0.0:9464" },
  { flag: "state-dir", env: "LOGTALLY_STATE_DIR", default: "./logtally-data" },
  { flag: "store", env: "LOGTALLY_STORE", default: "sqlite" },
  { flag: "store-file", env: "LOGTALLY_STORE_FILE" },
  { flag: "shutdown-grace-ms", env: "LOGTALLY_SHUTDOWN_GRACE_MS", default: "5000" },
  { flag: "heartbeat-interval-ms", env: "LOGTALLY_HEARTBEAT_INTERVAL_MS", default: "10000" },
  { flag: "watch-buffer-bytes", env: "LOGTALLY_WATCH_BUFFER_BYTES", default: "16777216" },
  { flag: "tls-cert", env: "LOGTALLY_TLS_CERT" },
  { flag: "tls-key", env: "LOGTALLY_TLS_KEY" },
  { flag: "tls-client-ca", env: "LOGTALLY_TLS_CLIENT_CA" },
  { flag: "token-file", env: "LOGTALLY_TOKEN_FILE" },
  { flag: "query-auth", env: "LOGTALLY_QUERY_AUTH", default: "open" },
  { flag: "credentials-reload-ms", env: "LOGTALLY_CREDENTIALS_RELOAD_MS", default: "10000" },
  { flag: "max-ingest-streams", env: "LOGTALLY_MAX_INGEST_STREAMS", default: "4096" },
  { flag: "hello-timeout-ms", env: "LOGTALLY_HELLO_TIMEOUT_MS", default: "10000" },
  { flag: "max-series", env: "LOGTALLY_MAX_SERIES", default: "1000000" },
  { flag: "log-level", env: "LOGTALLY_LOG_LEVEL", default: "info" },
];

const SIDECAR_FLAGS: readonly DocumentedFlag[] = [
  { flag: "file", env: "LOGTALLY_FILE", default: "/var/log/app/log.csv" },
  { flag: "aggregator", env: "LOGTALLY_AGGREGATOR", default: "logtally-aggregator:50051" },
  { flag: "source-id", env: "LOGTALLY_SOURCE_ID" },
  { flag: "sidecar-id", env: "LOGTALLY_SIDECAR_ID" },
  { flag: "format", env: "LOGTALLY_FORMAT", default: "csv" },
  { flag: "delimiter", env: "LOGTALLY_DELIMITER", default: "," },
  { flag: "metric", env: "LOGTALLY_METRIC", default: "log_host_job_count" },
  { flag: "label", env: "LOGTALLY_LABELS" },
  { flag: "where", env: "LOGTALLY_WHERE" },
  { flag: "metrics-listen", env: "LOGTALLY_METRICS_LISTEN" },
  { flag: "max-line-bytes", env: "LOGTALLY_MAX_LINE_BYTES", default: "65536" },
  { flag: "batch-max-bytes", env: "LOGTALLY_BATCH_MAX_BYTES", default: "8388608" },
  { flag: "batch-linger-ms", env: "LOGTALLY_BATCH_LINGER_MS", default: "400" },
  { flag: "batches-in-flight", env: "LOGTALLY_BATCHES_IN_FLIGHT", default: "2" },
  { flag: "read-buffer-bytes", env: "LOGTALLY_READ_BUFFER_BYTES", default: "1048576" },
  { flag: "poll-interval-ms", env: "LOGTALLY_POLL_INTERVAL_MS", default: "250" },
  { flag: "rotate-grace-ms", env: "LOGTALLY_ROTATE_GRACE_MS", default: "1000" },
  { flag: "max-rotated-files", env: "LOGTALLY_MAX_ROTATED_FILES", default: "5" },
  { flag: "ack-timeout-ms", env: "LOGTALLY_ACK_TIMEOUT_MS", default: "30000" },
  { flag: "drain-timeout-ms", env: "LOGTALLY_DRAIN_TIMEOUT_MS", default: "25000" },
  { flag: "tls-ca", env: "LOGTALLY_TLS_CA" },
  { flag: "tls-cert", env: "LOGTALLY_TLS_CERT" },
  { flag: "tls-key", env: "LOGTALLY_TLS_KEY" },
  { flag: "tls-server-name", env: "LOGTALLY_TLS_SERVER_NAME" },
  { flag: "token-file", env: "LOGTALLY_TOKEN_FILE" },
  { flag: "credentials-reload-ms", env: "LOGTALLY_CREDENTIALS_RELOAD_MS", default: "10000" },
  { flag: "log-level", env: "LOGTALLY_LOG_LEVEL", default: "info" },
];

/** Resolves with `promise`, or rejects once `timeoutMs` passed (a bound against hanging, not a measurement). */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Entries of a directory, sorted. */
function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

/** The log line a program wrote at level fatal (pino level 60), if any. */
function fatalLine(running: RunningProcess): Record<string, unknown> | undefined {
  return running.logs.find((line) => line.level === 60);
}

describe("command lines and start-up", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-cli-"));
  const processes = new Set<RunningProcess>();
  let dirCount = 0;
  const freshDir = (label: string): string => path.join(root, `${++dirCount}-${label}`);
  const track = <P extends RunningProcess>(running: P): P => {
    processes.add(running);
    return running;
  };

  after(async () => {
    await Promise.all([...processes].map((running) => running.stop("SIGKILL")));
    fs.rmSync(root, { recursive: true, force: true });
  });

  describe("--help documents every flag with its environment variable and default", () => {
    for (const [program, main, flags] of [
      ["aggregator", AGGREGATOR_MAIN, AGGREGATOR_FLAGS],
      ["sidecar", SIDECAR_MAIN, SIDECAR_FLAGS],
    ] as const) {
      it(program, async () => {
        const { code, stdout, stderr } = await runToExit(main, ["--help"]);
        assert.equal(code, 0, stderr);
        assert.equal(stderr, "");
        const lines = stdout.split("\n");
        for (const { flag, env, default: defaultValue } of flags) {
          const entry = new RegExp(`^  --${flag} <value>\\s+\\[${env}\\]${defaultValue === undefined ? "" : ` \\(default: ${escapeRegExp(defaultValue)}\\)`}$`);
          const at = lines.findIndex((line) => entry.test(line));
          assert.ok(at >= 0, `--help has no line matching ${entry}:\n${stdout}`);
          assert.match(lines[at + 1] ?? "", /^ {6}\S/, `--${flag} has no description`);
        }
        const documented = lines.flatMap((line) => /^ {2}--([a-z-]+) <value>/.exec(line)?.[1] ?? []).sort();
        assert.deepEqual(documented, flags.map(({ flag }) => flag).sort(), "flags documented by --help");
      });
    }
  });

  describe("a bad flag or variable exits 2 naming it, without a stack trace", () => {
    const cases: ReadonlyArray<{ program: "aggregator" | "sidecar"; args: string[]; env?: Record<string, string>; names: RegExp }> = [
      { program: "aggregator", args: ["--grpc-listen", "nonsense"], names: /--grpc-listen/ },
      { program: "aggregator", args: ["--metrics-listen", "127.0.0.1:99999"], names: /--metrics-listen/ },
      { program: "aggregator", args: ["--shutdown-grace-ms", "soon"], names: /--shutdown-grace-ms/ },
      { program: "aggregator", args: ["--log-level", "loud"], names: /--log-level/ },
      { program: "aggregator", args: ["--no-such-flag", "x"], names: /--no-such-flag/ },
      { program: "aggregator", args: ["--state-dir"], names: /--state-dir/ },
      { program: "aggregator", args: [], env: { LOGTALLY_GRPC_LISTEN: "nonsense" }, names: /grpc-listen/i },
      { program: "aggregator", args: ["--tls-cert", "/tls.crt"], names: /--tls-key/ },
      { program: "aggregator", args: ["--query-auth", "token"], names: /--query-auth/ },
      { program: "aggregator", args: ["--max-series", "none"], names: /--max-series/ },
      { program: "sidecar", args: ["--max-line-bytes", "abc"], names: /--max-line-bytes/ },
      { program: "sidecar", args: ["--max-line-bytes", "100"], names: /--max-line-bytes/ },
      { program: "sidecar", args: ["--file", ""], names: /--file/ },
      { program: "sidecar", args: ["--aggregator-address", "x:1"], names: /--aggregator-address/ },
      { program: "sidecar", args: [], env: { LOGTALLY_DRAIN_TIMEOUT_MS: "-1" }, names: /drain-timeout-ms/i },
      { program: "sidecar", args: ["--tls-key", "/tls.key"], names: /--tls-cert/ },
      { program: "sidecar", args: ["--format", "xml"], names: /--format/ },
      { program: "sidecar", args: ["--metric", "logtally_rows"], names: /--metric/ },
      { program: "sidecar", args: ["--metric", "requests", "--label", "status-code=5"], names: /--label/ },
      { program: "sidecar", args: ["--format", "jsonl", "--metric", "events", "--label", "level=2"], names: /--label/ },
      { program: "sidecar", args: ["--label", "method=3"], names: /--label/ },
      { program: "sidecar", args: ["--where", "status=~(unclosed"], names: /--where/ },
      { program: "sidecar", args: [], env: { LOGTALLY_METRIC: "http_requests_total" }, names: /LOGTALLY_METRIC/ },
    ];
    for (const { program, args, env = {}, names } of cases) {
      const described = [...Object.entries(env).map(([name, value]) => `${name}=${value}`), program, ...args].join(" ");
      it(described, async () => {
        const { code, stdout, stderr } = await runToExit(program === "aggregator" ? AGGREGATOR_MAIN : SIDECAR_MAIN, args, { env: programEnv(env) });
        assert.equal(code, 2, `exit code\n${stderr}`);
        assert.match(stderr, names);
        assert.match(stderr, /Try --help/);
        assert.doesNotMatch(stderr, /^\s+at /m, "stack trace printed");
        assert.doesNotMatch(stderr, /: fatal:/, "reported as a crash");
        assert.equal(stdout, "");
      });
    }
  });

  it("every program and command prints its version, and the protocol version it speaks", async () => {
    const versionOf = (file: string) =>
      (JSON.parse(fs.readFileSync(path.join(path.dirname(file), "..", "package.json"), "utf8")) as { version: string }).version;
    const expected: Array<[string, string[], string]> = [
      [AGGREGATOR_MAIN, [], `logtally-aggregator ${versionOf(AGGREGATOR_MAIN)} (protocol logtally.v1)`],
      [AGGREGATOR_MAIN, ["migrate-state"], `logtally-aggregator migrate-state ${versionOf(AGGREGATOR_MAIN)} (protocol logtally.v1)`],
      [SIDECAR_MAIN, [], `logtally-sidecar ${versionOf(SIDECAR_MAIN)} (protocol logtally.v1)`],
      [INJECTOR_MAIN, [], `logtally-injector ${versionOf(INJECTOR_MAIN)}`],
      [INJECTOR_MAIN, ["webhook"], `logtally-injector webhook ${versionOf(INJECTOR_MAIN)}`],
    ];
    for (const [main, command, line] of expected) {
      const result = await runToExit(main, [...command, "--version"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${line}\n`);
    }
  });

  it("npm links each command to a file outside dist/, which runs the built program: a fresh npm ci links it before any build", async () => {
    for (const command of ["logtally-aggregator", "logtally-sidecar", "logtally-injector"]) {
      const link = path.join(REPO_ROOT, "node_modules", ".bin", command);
      const target = path.relative(REPO_ROOT, fs.realpathSync(link));
      assert.match(target, new RegExp(`^[a-z]+/bin/${command}\\.js$`), `${command} links to ${target}`);
      const run = await execFileText(link, ["--version"]);
      assert.match(run, new RegExp(`^${command} \\d+\\.\\d+\\.\\d+`));
    }
  });

  it("the injector's commands moved out of the sidecar: it names the program to run, and that program serves them", async () => {
    for (const command of ["inject", "webhook"]) {
      const moved = await runToExit(SIDECAR_MAIN, [command]);
      assert.equal(moved.code, 2, moved.stderr);
      assert.equal(moved.stderr, `logtally-sidecar: "${command}" is a command of logtally-injector now: run logtally-injector ${command}\n`);
    }
    const help = await runToExit(INJECTOR_MAIN, []);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: logtally-injector inject\|webhook /);
    const unknown = await runToExit(INJECTOR_MAIN, ["mutate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^logtally-injector: unknown command "mutate": expected inject or webhook\nTry --help\.\n$/);
  });

  describe("environment variables", () => {
    it("configure an aggregator started without flags", async () => {
      const stateDir = freshDir("env-only");
      const aggregator = track(
        RunningProcess.start("aggregator-env", AGGREGATOR_MAIN, [], {
          env: programEnv({
            LOGTALLY_GRPC_LISTEN: "127.0.0.1:0",
            LOGTALLY_METRICS_LISTEN: "127.0.0.1:0",
            LOGTALLY_STATE_DIR: stateDir,
          }),
        }),
      );
      const started = await aggregator.waitForLog("aggregator started", PROCESS_TIMEOUT_MS);
      assert.equal(started.database, path.join(stateDir, "logtally.db"));
      assert.ok(fs.statSync(path.join(stateDir, "logtally.db")).isFile(), "logtally.db not created in LOGTALLY_STATE_DIR");
      assert.match(String(started.grpcAddress), /^127\.0\.0\.1:[1-9]\d*$/);
      assert.deepEqual(await aggregatorCounts(`http://127.0.0.1:${String(started.metricsPort)}/metrics`), new Map());
      assert.equal((await aggregator.stop("SIGTERM")).code, 0, aggregator.dump());
    });

    it("are overridden by flags", async () => {
      const fromEnv = freshDir("from-env");
      const fromFlag = freshDir("from-flag");
      const aggregator = track(
        RunningProcess.start(
          "aggregator-flags",
          AGGREGATOR_MAIN,
          ["--state-dir", fromFlag, "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
          // A bad value in a variable whose flag is given is never looked at.
          { env: programEnv({ LOGTALLY_STATE_DIR: fromEnv, LOGTALLY_GRPC_LISTEN: "nonsense", LOGTALLY_METRICS_LISTEN: "nonsense" }) },
        ),
      );
      const started = await aggregator.waitForLog("aggregator started", PROCESS_TIMEOUT_MS);
      assert.equal(started.database, path.join(fromFlag, "logtally.db"));
      assert.ok(fs.existsSync(path.join(fromFlag, "logtally.db")));
      assert.equal(fs.existsSync(fromEnv), false, "LOGTALLY_STATE_DIR was used although --state-dir was given");
      assert.equal((await aggregator.stop("SIGTERM")).code, 0, aggregator.dump());
    });
  });

  describe("state that cannot be used stops the aggregator from starting", () => {
    /** Starts an aggregator on `stateDir` and waits for it to give up. */
    const refusedStart = async (name: string, stateDir: string): Promise<RunningProcess> => {
      const aggregator = track(
        RunningProcess.start(name, AGGREGATOR_MAIN, ["--state-dir", stateDir, "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"], {
          env: programEnv(),
        }),
      );
      const { code, signal } = await within(aggregator.exited, PROCESS_TIMEOUT_MS, `${name} exiting`);
      assert.equal(signal, null);
      assert.notEqual(code, 0, `exited 0 on unusable state\n${aggregator.dump()}`);
      assert.ok(!aggregator.logs.some((line) => line.msg === "aggregator started"), `started anyway\n${aggregator.dump()}`);
      return aggregator;
    };

    // The machine's own Node.js, when it is one without node:sqlite (this test's runs on a supported one).
    const oldNode = ["/usr/bin/node", "/usr/local/bin/node"].find((candidate) => {
      try {
        const major = Number(execFileSync(candidate, ["-p", "process.versions.node.split('.')[0]"], { encoding: "utf8" }));
        return major < 22;
      } catch {
        return false;
      }
    });
    it("on a Node.js without node:sqlite, the aggregator says so in one line and leaves the state alone", {
      skip: oldNode ? false : "no Node.js older than 22 here",
    }, async () => {
      const stateDir = freshDir("old-node");
      fs.mkdirSync(stateDir);
      const aggregator = track(
        RunningProcess.start(
          "aggregator-old-node",
          AGGREGATOR_MAIN,
          ["--state-dir", stateDir, "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
          {
            env: programEnv(),
            node: oldNode!,
          },
        ),
      );
      const { code } = await within(aggregator.exited, PROCESS_TIMEOUT_MS, "aggregator exiting");
      assert.equal(code, 1, aggregator.dump());
      const fatal = fatalLine(aggregator);
      assert.ok(fatal, `no fatal log line\n${aggregator.dump()}`);
      assert.match(String(fatal.msg), /^cannot load the SQLite engine \(node:sqlite\) in Node\.js v\d+\.[\d.]+: .*needs Node\.js 24 or newer/);
      assert.doesNotMatch(String(fatal.msg), /backup|move it aside/);
      assert.equal(fatal.stack, undefined);
      assert.deepEqual(listing(stateDir), []);
    });

    it("a database file holding random bytes is refused and left as it was", async () => {
      const stateDir = freshDir("garbage");
      fs.mkdirSync(stateDir);
      const database = path.join(stateDir, "logtally.db");
      const garbage = randomBytes(8 * 1024);
      fs.writeFileSync(database, garbage);

      const aggregator = await refusedStart("aggregator-garbage", stateDir);
      const fatal = fatalLine(aggregator);
      assert.ok(fatal, `no fatal log line\n${aggregator.dump()}`);
      assert.ok(String(fatal.msg).includes(database), `the fatal message does not name ${database}: ${String(fatal.msg)}`);
      assert.equal(fatal.path, database);
      assert.match(String(fatal.msg), /restore it from a backup|move it aside/i);
      assert.ok(fs.readFileSync(database).equals(garbage), "the unusable database was modified");
      assert.deepEqual(listing(stateDir), ["logtally.db"]);
    });

    it("a database of a newer schema is refused and left as it was", async () => {
      const stateDir = freshDir("newer-schema");
      const aggregator = track(await startAggregator(stateDir, { name: "aggregator-schema-current" }));
      assert.equal((await aggregator.stop("SIGTERM")).code, 0, aggregator.dump());
      const database = path.join(stateDir, "logtally.db");
      const bytes = fs.readFileSync(database);
      // PRAGMA user_version lives at offset 60 of the SQLite header, big-endian.
      const written = bytes.readUInt32BE(60);
      assert.equal(written, SCHEMA_VERSION, "schema version the aggregator wrote");
      bytes.writeUInt32BE(written + 1, 60);
      fs.writeFileSync(database, bytes);
      const before = listing(stateDir);

      const refused = await refusedStart("aggregator-schema-newer", stateDir);
      const fatal = fatalLine(refused);
      assert.ok(fatal, `no fatal log line\n${refused.dump()}`);
      assert.ok(String(fatal.msg).includes(database), String(fatal.msg));
      assert.ok(String(fatal.msg).includes(`schema version ${written + 1} is newer`), String(fatal.msg));
      assert.ok(fs.readFileSync(database).equals(bytes), "the refused database was modified");
      assert.deepEqual(listing(stateDir), before);
    });

    it("a second aggregator on a state directory in use is refused, naming the first; the state is free once the first is gone", async () => {
      const stateDir = freshDir("in-use");
      const first = track(await startAggregator(stateDir, { name: "aggregator-first" }));
      const { ack } = await shipAsSidecar(first.grpcAddress, {
        sourceId: "held",
        fileId: "1-held",
        batch: { sequence: 1, startOffset: 0, endOffset: 10, deltas: [{ host: "h", jobName: "j", count: 2 }], rows: 2, rejected: [], anchor: "abcd" },
      });
      assert.equal(ack?.outcome, "APPLIED");
      const second = await refusedStart("aggregator-second", stateDir);
      const fatal = fatalLine(second);
      assert.ok(fatal, `no fatal log line\n${second.dump()}`);
      assert.match(String(fatal.msg), new RegExp(`state directory ${escapeRegExp(stateDir)} is in use by another aggregator \\(pid ${first.child.pid} on `));
      assert.match(String(fatal.msg), /run one aggregator per state directory/);
      // The first goes on serving, its counts untouched.
      assert.deepEqual(sorted(await aggregatorCounts(first.metricsUrl)), [["h|j", 2]]);
      // A holder killed outright releases the lock with its process.
      await first.stop("SIGKILL");
      const third = track(await startAggregator(stateDir, { name: "aggregator-third" }));
      assert.deepEqual(sorted(await aggregatorCounts(third.metricsUrl)), [["h|j", 2]]);
    });

    it("an empty database file is refused and left as it was: only a missing one is a fresh start", async () => {
      const stateDir = freshDir("empty-database");
      fs.mkdirSync(stateDir);
      const database = path.join(stateDir, "logtally.db");
      fs.writeFileSync(database, "");
      const aggregator = await refusedStart("aggregator-empty", stateDir);
      const fatal = fatalLine(aggregator);
      assert.ok(fatal, `no fatal log line\n${aggregator.dump()}`);
      assert.match(String(fatal.msg), new RegExp(`state database ${escapeRegExp(database)} is empty \\(0 bytes\\)`));
      assert.equal(fs.statSync(database).size, 0);
      assert.deepEqual(listing(stateDir), ["logtally.db"]);
    });

    it("a database of another application is refused and left as it was", async () => {
      const stateDir = freshDir("foreign-database");
      fs.mkdirSync(stateDir);
      const database = path.join(stateDir, "logtally.db");
      const foreign = new DatabaseSync(database);
      foreign.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (9.5)");
      foreign.close();
      const before = fs.readFileSync(database);
      const aggregator = await refusedStart("aggregator-foreign", stateDir);
      const fatal = fatalLine(aggregator);
      assert.ok(fatal, `no fatal log line\n${aggregator.dump()}`);
      assert.match(String(fatal.msg), /is not a logtally state database \(it holds tables invoices\)/);
      assert.ok(fs.readFileSync(database).equals(before), "the foreign database was modified");
    });

    it("a state directory that is a regular file is refused and left as it was", async () => {
      const notADirectory = freshDir("regular-file");
      fs.writeFileSync(notADirectory, "not a directory\n");

      const aggregator = await refusedStart("aggregator-file-state", notADirectory);
      const fatal = fatalLine(aggregator);
      assert.ok(fatal, `no fatal log line\n${aggregator.dump()}`);
      assert.ok(String(fatal.msg).includes(notADirectory), `the fatal message does not name ${notADirectory}: ${String(fatal.msg)}`);
      assert.equal(fs.readFileSync(notADirectory, "utf8"), "not a directory\n");
    });
  });

  describe("credential files that cannot be used stop a program from starting, naming the file", () => {
    /** Runs a program to its exit and returns its fatal log line, checking it names `file`. */
    const refusedWith = async (main: string, args: string[], file: string): Promise<string> => {
      const { code, stderr } = await runToExit(main, args);
      assert.equal(code, 1, `exit code\n${stderr}`);
      const fatal = stderr
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.level === 60);
      assert.ok(fatal, `no fatal log line\n${stderr}`);
      assert.equal(fatal.path, file);
      assert.ok(String(fatal.msg).includes(file), String(fatal.msg));
      return stderr;
    };
    const aggregatorArgs = (...extra: string[]): string[] => [
      "--state-dir",
      freshDir("credentials"),
      "--grpc-listen",
      "127.0.0.1:0",
      "--metrics-listen",
      "127.0.0.1:0",
      ...extra,
    ];
    const sidecarArgs = (...extra: string[]): string[] => ["--file", path.join(root, "none.csv"), "--aggregator", "127.0.0.1:1", "--source-id", "s", ...extra];

    it("a token file that does not exist", async () => {
      const missing = path.join(root, "no-such-token");
      await refusedWith(AGGREGATOR_MAIN, aggregatorArgs("--token-file", missing), missing);
      await refusedWith(SIDECAR_MAIN, sidecarArgs("--token-file", missing), missing);
    });

    it("a token too short to be a secret, without printing it", async () => {
      const file = path.join(root, "short-token");
      fs.writeFileSync(file, "hunter2\n");
      const stderr = await refusedWith(AGGREGATOR_MAIN, aggregatorArgs("--token-file", file), file);
      assert.match(stderr, /at least 16 characters/);
      assert.ok(!stderr.includes("hunter2"), "the token was printed");
    });

    it("a certificate and a key that do not match", async () => {
      const authority = new TestCertificateAuthority(path.join(root, "pki"), "cli-ca");
      const first = authority.issueServer("first", "localhost");
      const second = authority.issueServer("second", "localhost");
      const stderr = await refusedWith(AGGREGATOR_MAIN, aggregatorArgs("--tls-cert", first.certFile, "--tls-key", second.keyFile), first.certFile);
      assert.match(stderr, /not a PEM certificate and its private key/);
      await refusedWith(SIDECAR_MAIN, sidecarArgs("--tls-ca", first.keyFile), first.keyFile);
    });
  });

  it("the aggregator stops cleanly on SIGTERM and restarts with the same counts", async () => {
    const stateDir = freshDir("durable");
    const first = track(await startAggregator(stateDir, { name: "aggregator-first" }));
    const { ack } = await shipAsSidecar(first.grpcAddress, {
      sourceId: "durable",
      fileId: "1-cli",
      batch: {
        sequence: 1,
        startOffset: 0,
        endOffset: 100,
        deltas: [
          { host: "server1", jobName: "backup", count: 2 },
          { host: "server2", jobName: "cron", count: 1 },
        ],
        rows: 3,
        rejected: [],
        anchor: "abcd",
      },
    });
    assert.equal(ack?.outcome, "APPLIED");
    const counted = sorted(await aggregatorCounts(first.metricsUrl));
    assert.deepEqual(counted, [
      ["server1|backup", 2],
      ["server2|cron", 1],
    ]);

    const stopped = await within(first.stop("SIGTERM"), PROCESS_TIMEOUT_MS, "aggregator exiting on SIGTERM");
    assert.deepEqual(stopped, { code: 0, signal: null }, first.dump());
    assert.ok(
      first.logs.some((line) => line.msg === "aggregator stopped"),
      first.dump(),
    );

    const second = track(await startAggregator(stateDir, { name: "aggregator-second" }));
    assert.deepEqual(sorted(await aggregatorCounts(second.metricsUrl)), counted);
    const { welcome } = await shipAsSidecar(second.grpcAddress, { sourceId: "durable", fileId: "1-cli" });
    assert.equal(welcome.committedOffset, 100);
    assert.equal(welcome.anchor, "abcd");
    assert.equal(welcome.known, true);
  });

  it("the sidecar keeps retrying an unreachable aggregator and exits 0 on SIGTERM within its drain timeout", async () => {
    const dir = freshDir("sidecar");
    fs.mkdirSync(dir);
    const file = path.join(dir, "log.csv");
    fs.writeFileSync(file, "server1,backup\nserver2,cron\n");
    const drainTimeoutMs = 1000;
    const sidecar = track(
      RunningProcess.start(
        "sidecar-alone",
        SIDECAR_MAIN,
        ["--file", file, "--aggregator", `127.0.0.1:${await freePort()}`, "--source-id", "alone", "--drain-timeout-ms", String(drainTimeoutMs)],
        { env: programEnv() },
      ),
    );
    const unreachable = (): number => sidecar.logs.filter((line) => String(line.msg).startsWith("aggregator unreachable")).length;
    await waitFor(() => (unreachable() >= 2 ? true : undefined), {
      timeoutMs: 5_000,
      describe: () => `two "aggregator unreachable" logs (saw ${unreachable()})\n${sidecar.dump()}`,
    });
    assert.equal(sidecar.child.exitCode, null, `the sidecar gave up\n${sidecar.dump()}`);
    assert.equal(sidecar.child.signalCode, null);

    // The rows can never be shipped, so only the drain timeout ends the drain.
    const exit = await within(sidecar.stop("SIGTERM"), drainTimeoutMs + 5_000, "sidecar exiting on SIGTERM");
    assert.deepEqual(exit, { code: 0, signal: null }, sidecar.dump());
    const messages = sidecar.logs.map((line) => line.msg);
    assert.ok(messages.includes("drain timed out: stopping with rows unshipped"), sidecar.dump());
    assert.ok(messages.includes("sidecar stopped"), sidecar.dump());
  });

  it("the sidecar's drain keeps its deadline when the aggregator stops answering mid-stream", async () => {
    const dir = freshDir("silent");
    fs.mkdirSync(dir);
    const file = path.join(dir, "log.csv");
    fs.writeFileSync(file, "server1,backup\n");
    const aggregator = track(await startAggregator(path.join(dir, "state")));
    const proxy = await TcpFaultProxy.start({ host: "127.0.0.1", port: aggregator.grpcPort });
    try {
      const drainTimeoutMs = 1000;
      const sidecar = track(
        startSidecar("sidecar-silent", {
          file,
          aggregator: `127.0.0.1:${proxy.port}`,
          sourceId: "silent",
          // Without the drain cancelling the request in flight, the sidecar would wait out this ack timeout.
          extraArgs: ["--drain-timeout-ms", String(drainTimeoutMs), "--ack-timeout-ms", "60000", "--batch-linger-ms", "0"],
        }),
      );
      await waitUntilSettled(aggregator.grpcAddress, { silent: file });
      // The connection stays up, but nothing gets through any more: the next batch is never acknowledged.
      proxy.setMode({ kind: "stall" });
      fs.appendFileSync(file, "server2,cron\n");
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const stopping = Date.now();
      const exit = await within(sidecar.stop("SIGTERM"), drainTimeoutMs + 5_000, "sidecar exiting on SIGTERM");
      assert.deepEqual(exit, { code: 0, signal: null }, sidecar.dump());
      assert.ok(Date.now() - stopping < drainTimeoutMs + 5_000);
      assert.ok(
        sidecar.logs.some((line) => line.msg === "drain timed out: stopping with rows unshipped"),
        sidecar.dump(),
      );
    } finally {
      await proxy.stop();
    }
  });
});

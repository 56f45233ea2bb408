import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  ConfigError,
  LOG_LEVELS,
  formatHelp,
  formatListenAddress,
  parseFlags,
  parseIntegerFlag,
  parseListenAddress,
  parseLogLevel,
  type FlagSpec,
  type ParsedFlags,
} from "./flags";

const SPECS = [
  { name: "listen", env: "T_LISTEN", default: "0.0.0.0:50051", description: "Where to listen." },
  { name: "db-path", env: "T_DB_PATH", default: "/data/db.sqlite", description: "The database file." },
  { name: "token", env: "T_TOKEN", description: "An optional token." },
] as const satisfies ReadonlyArray<FlagSpec>;

type Name = (typeof SPECS)[number]["name"];

/** The values of a parse that did not ask for help. */
function valuesOf(parsed: ParsedFlags<Name>): Readonly<Record<Name, string | undefined>> {
  assert.equal(parsed.help, false);
  return (parsed as Extract<ParsedFlags<Name>, { help: false }>).values;
}

/** Asserts that `run` throws a ConfigError whose message includes `fragment`. */
function assertConfigError(run: () => unknown, fragment: string, input?: string): void {
  const context = input === undefined ? "" : `${JSON.stringify(input)}: `;
  assert.throws(
    run,
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${context}expected a ConfigError, got ${String(error)}`);
      assert.equal(error.name, "ConfigError");
      assert.ok(error.message.includes(fragment), `${context}message ${JSON.stringify(error.message)} includes ${JSON.stringify(fragment)}`);
      return true;
    },
    `${context}expected a ConfigError`,
  );
}

test("defaults apply when neither flag nor variable is set; no default means undefined", () => {
  assert.deepEqual(valuesOf(parseFlags(SPECS, [], {})), { listen: "0.0.0.0:50051", "db-path": "/data/db.sqlite", token: undefined });
});

test("a variable beats the default and a flag beats the variable", () => {
  const env = { T_LISTEN: "127.0.0.1:1", T_TOKEN: "from-env" };
  assert.deepEqual(valuesOf(parseFlags(SPECS, [], env)), { listen: "127.0.0.1:1", "db-path": "/data/db.sqlite", token: "from-env" });
  assert.deepEqual(valuesOf(parseFlags(SPECS, ["--listen", "127.0.0.1:2", "--token=from-flag"], env)), {
    listen: "127.0.0.1:2",
    "db-path": "/data/db.sqlite",
    token: "from-flag",
  });
});

test("the last of a repeated flag wins", () => {
  assert.equal(valuesOf(parseFlags(SPECS, ["--token", "a", "--token", "b"], {})).token, "b");
});

test("an empty variable is ignored, an explicitly empty flag is not", () => {
  const env = { T_LISTEN: "", T_TOKEN: "" };
  const values = valuesOf(parseFlags(SPECS, [], env));
  assert.equal(values.listen, "0.0.0.0:50051");
  assert.equal(values.token, undefined);
  assert.equal(valuesOf(parseFlags(SPECS, ["--db-path="], { T_DB_PATH: "/env.sqlite" }))["db-path"], "");
});

test("variables of other programs are not read", () => {
  assert.equal(valuesOf(parseFlags(SPECS, [], { TOKEN: "x", LISTEN: "y:1", T_DB_PATH_X: "z" })).token, undefined);
});

test("an unknown flag is a ConfigError naming it", () => {
  assertConfigError(() => parseFlags(SPECS, ["--nope"], {}), "--nope");
  assertConfigError(() => parseFlags(SPECS, ["--listen", "a:1", "--lisen=b:2"], {}), "--lisen");
  assertConfigError(() => parseFlags(SPECS, ["-x"], {}), "-x");
});

test("a flag without its value is a ConfigError naming it", () => {
  assertConfigError(() => parseFlags(SPECS, ["--token"], {}), "--token");
});

test("positionals are refused unless allowed", () => {
  assertConfigError(() => parseFlags(SPECS, ["stray"], {}), "stray");
  const parsed = parseFlags(SPECS, ["--token", "t", "first", "second"], {}, { allowPositionals: true });
  assert.ok(!parsed.help);
  const { values, labels, positionals } = parsed;
  assert.deepEqual(
    { values, labels, positionals },
    {
      values: { listen: "0.0.0.0:50051", "db-path": "/data/db.sqlite", token: "t" },
      labels: { listen: "--listen", "db-path": "--db-path", token: "--token" },
      positionals: ["first", "second"],
    },
  );
});

const NUMERIC = [
  { name: "retries", env: "T_RETRIES", default: "3", range: [0, 10], description: "How often to retry." },
  {
    name: "reload-ms",
    env: "T_RELOAD_MS",
    default: "1000",
    range: [100, 60_000],
    aliases: [{ name: "old-reload", env: "T_OLD_RELOAD" }],
    description: "Reload.",
  },
  { name: "name", env: "T_NAME", description: "Not a number." },
] as const satisfies ReadonlyArray<FlagSpec>;

function parsedNumeric(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const parsed = parseFlags(NUMERIC, argv, env);
  assert.ok(!parsed.help);
  return parsed;
}

test("integer() checks a value against the range declared with its flag", () => {
  assert.equal(parsedNumeric([]).integer("retries"), 3);
  assert.equal(parsedNumeric(["--retries", "10"]).integer("retries"), 10);
  assertConfigError(() => parsedNumeric(["--retries", "11"]).integer("retries"), "--retries: expected a whole number from 0 to 10");
  assertConfigError(() => parsedNumeric([], { T_RETRIES: "-1" }).integer("retries"), "T_RETRIES (--retries): expected a whole number from 0 to 10");
  assert.throws(() => parsedNumeric([]).integer("name"), /declares no range/);
});

test("an earlier name of a flag, and of its variable, still sets it; the current name wins", () => {
  assert.equal(parsedNumeric(["--old-reload", "500"]).integer("reload-ms"), 500);
  assert.equal(parsedNumeric([], { T_OLD_RELOAD: "600" }).integer("reload-ms"), 600);
  assert.equal(parsedNumeric(["--old-reload", "500", "--reload-ms", "700"]).integer("reload-ms"), 700);
  assert.equal(parsedNumeric([], { T_OLD_RELOAD: "600", T_RELOAD_MS: "800" }).integer("reload-ms"), 800);
  assert.equal(parsedNumeric(["--old-reload", "500"], { T_RELOAD_MS: "800" }).integer("reload-ms"), 500, "a flag beats any variable");
  assertConfigError(() => parsedNumeric(["--old-reload", "5"]).integer("reload-ms"), "--old-reload: expected a whole number from 100 to 60000");
});

test("--help shows a flag's range and its earlier name", () => {
  const help = formatHelp("t", "T.", NUMERIC);
  assert.match(help, /--retries <value> {3}\[T_RETRIES\] \(default: 3\)\n {6}How often to retry\.\n {6}A whole number from 0 to 10\./);
  assert.match(help, /Also read as --old-reload \[T_OLD_RELOAD\], its earlier name\./);
});

test("labels name the environment variable when the value came from it", () => {
  const parsed = parseFlags(SPECS, ["--token", "t"], { T_LISTEN: "bad", T_TOKEN: "ignored" });
  assert.ok(!parsed.help);
  assert.equal(parsed.labels.listen, "T_LISTEN (--listen)");
  assert.equal(parsed.labels.token, "--token");
  assertConfigError(() => parseListenAddress(parsed.labels.listen, parsed.values.listen!), "T_LISTEN (--listen)");
});

test("--help and -h ask for help, whatever else is given", () => {
  assert.deepEqual(parseFlags(SPECS, ["--help"], {}), { help: true });
  assert.deepEqual(parseFlags(SPECS, ["-h"], {}), { help: true });
  assert.deepEqual(parseFlags(SPECS, ["--token", "t", "--help"], { T_LISTEN: "not an address" }), { help: true });
});

test("help lists usage, summary, every flag, its variable and its default", () => {
  const help = formatHelp("prog [options]", "Does one thing well.", SPECS);
  assert.ok(help.startsWith("Usage: prog [options]\n"));
  assert.ok(help.includes("\nDoes one thing well.\n"));
  assert.ok(help.endsWith("\n"));
  const lines = help.split("\n");
  for (const spec of SPECS) {
    const entry = lines.find((line) => line.includes(`--${spec.name} `));
    assert.ok(entry, `help lists --${spec.name}`);
    assert.ok(entry.includes(`[${spec.env}]`), `--${spec.name} shows ${spec.env}`);
    const defaultValue = "default" in spec ? spec.default : undefined;
    if (defaultValue === undefined) assert.ok(!entry.includes("default"), `--${spec.name} shows no default`);
    else assert.ok(entry.includes(`(default: ${defaultValue})`), `--${spec.name} shows its default`);
    const description = lines[lines.indexOf(entry) + 1];
    assert.equal(description?.trim(), spec.description);
  }
  assert.ok(lines.some((line) => line.includes("-h, --help")));
});

test("listen addresses: IPv4, hostname, bracketed IPv6, port 0 and 65535", () => {
  assert.deepEqual(parseListenAddress("listen", "127.0.0.1:50051"), { host: "127.0.0.1", port: 50051 });
  assert.deepEqual(parseListenAddress("listen", "logtally-aggregator:8080"), { host: "logtally-aggregator", port: 8080 });
  assert.deepEqual(parseListenAddress("listen", "[::]:50051"), { host: "::", port: 50051 });
  assert.deepEqual(parseListenAddress("listen", "[::1]:9000"), { host: "::1", port: 9000 });
  assert.deepEqual(parseListenAddress("listen", "[::ffff:10.0.0.1]:80"), { host: "::ffff:10.0.0.1", port: 80 });
  assert.deepEqual(parseListenAddress("listen", "0.0.0.0:0"), { host: "0.0.0.0", port: 0 });
  assert.deepEqual(parseListenAddress("listen", "localhost:65535"), { host: "localhost", port: 65535 });
});

test("listen addresses that are refused name the flag", () => {
  for (const value of [
    "localhost",
    "localhost:",
    ":50051",
    "host:65536",
    "host:123456",
    "a:b:c",
    "::1:80",
    "[::1]",
    "[::1:80",
    "host:-1",
    "host:8o",
    "ho st:80",
    "",
  ]) {
    assertConfigError(() => parseListenAddress("--grpc-listen", value), "--grpc-listen", value);
  }
});

test("brackets are only for IPv6 addresses", () => {
  for (const value of ["[]:80", "[localhost]:80", "[web:80"]) {
    assertConfigError(() => parseListenAddress("--grpc-listen", value), "--grpc-listen", value);
  }
});

test("formatListenAddress brackets IPv6 and round-trips", () => {
  assert.equal(formatListenAddress({ host: "::", port: 50051 }), "[::]:50051");
  assert.equal(formatListenAddress({ host: "127.0.0.1", port: 0 }), "127.0.0.1:0");
  for (const value of ["[::1]:9000", "example.org:443", "10.0.0.1:1"]) {
    assert.equal(formatListenAddress(parseListenAddress("listen", value)), value);
  }
});

test("integer flags accept whole numbers within their bounds, inclusive", () => {
  assert.equal(parseIntegerFlag("n", "10", 10, 20), 10);
  assert.equal(parseIntegerFlag("n", "20", 10, 20), 20);
  assert.equal(parseIntegerFlag("n", "0", 0, 0), 0);
  assert.equal(parseIntegerFlag("n", "9007199254740991", 0, Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
});

test("integer flags refuse values out of bounds or not whole numbers, naming the flag", () => {
  assertConfigError(() => parseIntegerFlag("--max-things", "9", 10, 20), "--max-things");
  assertConfigError(() => parseIntegerFlag("--max-things", "21", 10, 20), "--max-things");
  assertConfigError(() => parseIntegerFlag("--big", "9007199254740993", 0, Number.MAX_SAFE_INTEGER), "--big");
  for (const value of ["", " 15", "15 ", "1.5", "-1", "+15", "1e1", "0x10", "fifteen", "15ms"]) {
    assertConfigError(() => parseIntegerFlag("--max-things", value, 0, 100), "--max-things", value);
  }
});

test("log levels: each known one is accepted, anything else names the flag", () => {
  for (const level of LOG_LEVELS) assert.equal(parseLogLevel("--log-level", level), level);
  assert.deepEqual([...LOG_LEVELS], ["fatal", "error", "warn", "info", "debug", "trace"]);
  for (const value of ["", "INFO", "verbose", "warning", " info"]) {
    assertConfigError(() => parseLogLevel("--log-level", value), "--log-level", value);
  }
});

const WITH_SWITCH = [
  { name: "all", switch: true, description: "Everything." },
  { name: "listen", env: "T_LISTEN", default: "0.0.0.0:1", description: "Where to listen." },
] as const satisfies ReadonlyArray<FlagSpec>;

test('a switch is "true" when given and undefined otherwise; it reads no environment variable', () => {
  const given = parseFlags(WITH_SWITCH, ["--all"], {});
  assert.ok(!given.help);
  assert.equal(given.values.all, "true");
  assert.equal(given.labels.all, "--all");
  const absent = parseFlags(WITH_SWITCH, ["--listen", "a:2"], { ALL: "true", T_ALL: "true" });
  assert.ok(!absent.help);
  assert.deepEqual(absent.values, { all: undefined, listen: "a:2" });
});

test("a switch given a value is a ConfigError naming it", () => {
  assertConfigError(() => parseFlags(WITH_SWITCH, ["--all=yes"], {}), "--all");
});

test("help lists a switch without a value or a variable", () => {
  const lines = formatHelp("prog", "Summary.", WITH_SWITCH).split("\n");
  const at = lines.indexOf("  --all");
  assert.ok(at >= 0, lines.join("\n"));
  assert.equal(lines[at + 1], "      Everything.");
  assert.ok(lines.includes("  --listen <value>   [T_LISTEN] (default: 0.0.0.0:1)"));
});

const REPEATABLE = [
  { name: "label", env: "T_LABELS", default: "host=1,job_name=2", repeatable: { envSeparator: "," }, description: "A label." },
  { name: "where", env: "T_WHERE", repeatable: { envSeparator: "\n" }, aliases: [{ name: "filter", env: "T_FILTER" }], description: "A filter." },
  { name: "token", env: "T_TOKEN", description: "Not repeatable." },
] as const satisfies ReadonlyArray<FlagSpec>;

function parsedRepeatable(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const parsed = parseFlags(REPEATABLE, argv, env);
  assert.ok(!parsed.help);
  return parsed;
}

test("a repeatable flag keeps every occurrence, in order, where another flag keeps the last", () => {
  const parsed = parsedRepeatable(["--label", "b=2", "--token", "x", "--label=a=1", "--token", "y", "--label", "c=.x,y"]);
  assert.deepEqual(parsed.list("label"), ["b=2", "a=1", "c=.x,y"]);
  assert.equal(parsed.values.label, "b=2,a=1,c=.x,y");
  assert.equal(parsed.values.token, "y");
  assert.equal(parsed.labels.label, "--label");
  assert.ok(parsed.given("label"));
  assert.throws(() => parsed.list("token"), /not repeatable/);
});

test("a repeatable flag's variable and default are split on its separator; empty entries are dropped", () => {
  assert.deepEqual(parsedRepeatable([]).list("label"), ["host=1", "job_name=2"]);
  assert.deepEqual(parsedRepeatable([]).list("where"), []);
  assert.equal(parsedRepeatable([]).given("label"), false);
  const fromEnv = parsedRepeatable([], { T_LABELS: "a=1,,b=2,", T_WHERE: "level=~warn|error\n.msg=a,b\n" });
  assert.deepEqual(fromEnv.list("label"), ["a=1", "b=2"]);
  assert.deepEqual(fromEnv.list("where"), ["level=~warn|error", ".msg=a,b"]);
  assert.equal(fromEnv.labels.where, "T_WHERE (--where)");
  assert.ok(fromEnv.given("where"));
  // Flags beat the variable whole: entries are not merged.
  assert.deepEqual(parsedRepeatable(["--label", "z=9"], { T_LABELS: "a=1,b=2" }).list("label"), ["z=9"]);
  // An entry given on the command line is kept as given, even empty: the program decides.
  assert.deepEqual(parsedRepeatable(["--label="]).list("label"), [""]);
});

test("an earlier name of a repeatable flag collects its entries too; the current name wins", () => {
  assert.deepEqual(parsedRepeatable(["--filter", "a=1", "--filter", "b=2"]).list("where"), ["a=1", "b=2"]);
  assert.deepEqual(parsedRepeatable(["--filter", "a=1", "--where", "c=3"]).list("where"), ["c=3"]);
  assert.deepEqual(parsedRepeatable([], { T_FILTER: "a=1\nb=2" }).list("where"), ["a=1", "b=2"]);
});

test("given() tells a value from the default, for value flags and switches", () => {
  const parsed = parseFlags(WITH_SWITCH, ["--all"], {});
  assert.ok(!parsed.help);
  assert.equal(parsed.given("all"), true);
  assert.equal(parsed.given("listen"), false);
  const fromEnv = parseFlags(WITH_SWITCH, [], { T_LISTEN: "a:1" });
  assert.ok(!fromEnv.help);
  assert.equal(fromEnv.given("all"), false);
  assert.equal(fromEnv.given("listen"), true);
});

test("help says a flag is repeatable and how its variable separates entries, keeping its line's shape", () => {
  const lines = formatHelp("prog", "Summary.", REPEATABLE).split("\n");
  const label = lines.indexOf("  --label <value>   [T_LABELS] (default: host=1,job_name=2)");
  assert.ok(label >= 0, lines.join("\n"));
  assert.equal(lines[label + 1], "      A label.");
  assert.equal(lines[label + 2], "      Repeatable, in order; T_LABELS takes the entries separated by commas.");
  const where = lines.indexOf("  --where <value>   [T_WHERE]");
  assert.equal(lines[where + 2], "      Repeatable, in order; T_WHERE takes the entries separated by newlines.");
  const token = lines.indexOf("  --token <value>   [T_TOKEN]");
  assert.ok(!(lines[token + 2] ?? "").includes("Repeatable"));
});

import { parseArgs } from "node:util";

/**
 * Command-line flags shared by logtally's programs: each value flag has an
 * environment variable and a default, resolved flags > environment > default;
 * a switch is given on the command line or not at all. A flag given twice
 * keeps its last value, unless it is declared repeatable: then it keeps
 * every one, in order.
 */

/** One flag of a program: a value flag or a switch. */
export type FlagSpec = ValueFlagSpec | SwitchFlagSpec;

/** A flag that takes a value (`--name value` or `--name=value`). */
export interface ValueFlagSpec {
  /** Long name without dashes, e.g. `grpc-listen`. */
  readonly name: string;
  /** Environment variable read when the flag is absent. */
  readonly env: string;
  /** Used when neither flag nor variable is set; undefined means "unset". */
  readonly default?: string;
  /** For a whole-number flag, the values it accepts, both ends included: checked by ParsedValues.integer(). */
  readonly range?: readonly [min: number, max: number];
  /** Earlier names of the flag, still accepted (the flag's own name wins when both are given). */
  readonly aliases?: ReadonlyArray<FlagAlias>;
  /**
   * Set for a flag that may be given several times: every occurrence is kept,
   * in order (see ParsedValues.list()), where other flags keep the last.
   */
  readonly repeatable?: RepeatableFlag;
  readonly switch?: undefined;
  readonly description: string;
}

/** How a repeatable flag's entries are given at once by its environment variable (and its default). */
export interface RepeatableFlag {
  /**
   * What separates entries in the variable and in the default: `","`, or
   * `"\n"` for entries that may hold commas (regular expressions). Empty
   * entries are dropped, so a trailing separator is harmless.
   */
  readonly envSeparator: string;
}

/** An earlier name of a flag, and of its environment variable. */
export interface FlagAlias {
  readonly name: string;
  readonly env: string;
}

/**
 * A flag without a value (`--all`): its value is "true" when given and
 * undefined otherwise. It has no environment variable: a switch is a choice
 * made for one run.
 */
export interface SwitchFlagSpec {
  readonly name: string;
  readonly switch: true;
  readonly description: string;
}

/** A flag or variable with a bad value; the message names it. Programs print it and exit 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Result of {@link parseFlags}. */
export type ParsedFlags<Name extends string> = { readonly help: true } | ParsedValues<Name>;

/** The flags' values, when --help was not asked for. */
export interface ParsedValues<Name extends string> {
  readonly help: false;
  readonly values: Readonly<Record<Name, string | undefined>>;
  /** Where each value came from, for error messages: `--name`, or `ENV_VAR (--name)`. */
  readonly labels: Readonly<Record<Name, string>>;
  readonly positionals: string[];
  /** A whole-number flag's value, checked against its declared range; a ConfigError names the flag. */
  integer(name: Name): number;
  /**
   * A repeatable flag's entries, in order: every `--name` given (as given,
   * even empty), else the environment variable split on its separator, else
   * the default split likewise; [] when none. Its `values` entry holds them
   * joined by the separator. Throws (a defect) for a flag not declared repeatable.
   */
  list(name: Name): readonly string[];
  /** True when the value came from the command line or the environment, false when it is the default (or unset). */
  given(name: Name): boolean;
}

/** `--log-level`, the same for every program. */
export const LOG_LEVEL_FLAG = {
  name: "log-level",
  env: "LOGTALLY_LOG_LEVEL",
  default: "info",
  description: "One of fatal, error, warn, info, debug, trace. Logs are JSON lines on stderr.",
} as const satisfies ValueFlagSpec;

/** How often TLS files are read again, the same for every program that reads some. */
export function credentialsReloadFlag(what: string, aliases?: ReadonlyArray<FlagAlias>) {
  return {
    name: "credentials-reload-ms",
    env: "LOGTALLY_CREDENTIALS_RELOAD_MS",
    default: "10000",
    range: [100, 86_400_000],
    ...(aliases ? { aliases } : {}),
    description: `How often ${what} read again, so that renewed files are used without a restart.`,
  } as const satisfies ValueFlagSpec;
}

/** Parses argv against the specs; unknown flags are a ConfigError. */
export function parseFlags<Name extends string>(
  specs: ReadonlyArray<FlagSpec & { name: Name }>,
  argv: string[],
  env: NodeJS.ProcessEnv,
  { allowPositionals = false }: { allowPositionals?: boolean } = {},
): ParsedFlags<Name> {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = { help: { type: "boolean", short: "h" } };
  for (const spec of specs) {
    const multiple = !spec.switch && spec.repeatable !== undefined;
    options[spec.name] = { type: spec.switch ? "boolean" : "string", multiple };
    for (const alias of spec.switch ? [] : (spec.aliases ?? [])) options[alias.name] = { type: "string", multiple };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (parsed.values.help === true) return { help: true };
  const values = {} as Record<Name, string | undefined>;
  const labels = {} as Record<Name, string>;
  const lists = new Map<Name, readonly string[]>();
  const givenNames = new Set<Name>();
  for (const spec of specs) {
    if (spec.switch) {
      values[spec.name] = parsed.values[spec.name] === true ? "true" : undefined;
      labels[spec.name] = `--${spec.name}`;
      if (values[spec.name] !== undefined) givenNames.add(spec.name);
      continue;
    }
    // The current name first, then each earlier one: flags, then variables.
    const names = [{ name: spec.name, env: spec.env }, ...(spec.aliases ?? [])];
    const fromFlag = names.find(({ name }) => parsed.values[name] !== undefined);
    const fromEnv = fromFlag ? undefined : names.find(({ env: variable }) => env[variable] !== undefined && env[variable] !== "");
    if (fromFlag) {
      const given = parsed.values[fromFlag.name] as string | string[];
      values[spec.name] = Array.isArray(given) ? given.join(spec.repeatable?.envSeparator) : given;
      if (spec.repeatable) lists.set(spec.name, Object.freeze([...(given as string[])]));
      labels[spec.name] = `--${fromFlag.name}`;
      givenNames.add(spec.name);
    } else if (fromEnv) {
      values[spec.name] = env[fromEnv.env];
      labels[spec.name] = `${fromEnv.env} (--${spec.name})`;
      givenNames.add(spec.name);
    } else {
      values[spec.name] = spec.default;
      labels[spec.name] = `--${spec.name}`;
    }
    if (spec.repeatable && !lists.has(spec.name)) lists.set(spec.name, splitEntries(values[spec.name], spec.repeatable.envSeparator));
  }
  const ranges = new Map(specs.flatMap((spec) => (spec.switch || !spec.range ? [] : [[spec.name, spec.range] as const])));
  const integer = (name: Name): number => {
    const range = ranges.get(name);
    if (!range) throw new Error(`--${name} declares no range: it is not a whole-number flag`);
    const value = values[name];
    if (value === undefined) throw new ConfigError(`${labels[name]} is required`);
    return parseIntegerFlag(labels[name], value, range[0], range[1]);
  };
  const list = (name: Name): readonly string[] => {
    const entries = lists.get(name);
    if (!entries) throw new Error(`--${name} is not repeatable`);
    return entries;
  };
  const given = (name: Name): boolean => givenNames.has(name);
  return { help: false, values, labels, positionals: parsed.positionals, integer, list, given };
}

/** A variable's (or default's) entries: split on the separator, empty ones dropped. */
function splitEntries(value: string | undefined, separator: string): readonly string[] {
  return Object.freeze(value === undefined ? [] : value.split(separator).filter((entry) => entry !== ""));
}

/** Formats `--help` text: usage, summary, then one entry per flag. */
export function formatHelp(usage: string, summary: string, specs: ReadonlyArray<FlagSpec>): string {
  const lines = [`Usage: ${usage}`, "", summary, "", "Options (a flag with [VARIABLE] can also be set by that environment variable):"];
  for (const spec of specs) {
    if (spec.switch) lines.push(`  --${spec.name}`);
    else lines.push(`  --${spec.name} <value>   [${spec.env}]${spec.default !== undefined ? ` (default: ${spec.default})` : ""}`);
    lines.push(`      ${spec.description}`);
    if (!spec.switch && spec.range) lines.push(`      A whole number from ${spec.range[0]} to ${spec.range[1]}.`);
    if (!spec.switch && spec.repeatable) {
      lines.push(`      Repeatable, in order; ${spec.env} takes the entries separated by ${separatorName(spec.repeatable.envSeparator)}.`);
    }
    for (const alias of spec.switch ? [] : (spec.aliases ?? [])) lines.push(`      Also read as --${alias.name} [${alias.env}], its earlier name.`);
  }
  lines.push("  -h, --help", "      Show this help.", "  --version", "      Show the version (and the protocol version the program speaks).");
  return `${lines.join("\n")}\n`;
}

/** How --help names a repeatable flag's separator. */
function separatorName(separator: string): string {
  if (separator === ",") return "commas";
  if (separator === "\n") return "newlines";
  if (separator === ";") return "semicolons";
  return JSON.stringify(separator);
}

/** A `host:port` listen address. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port` or `[ipv6]:port`; port 0 asks the OS for a free port.
 * `label` names the setting in the error (see ParsedFlags.labels).
 */
export function parseListenAddress(label: string, value: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F]*:[0-9a-fA-F:.]*)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new ConfigError(`${label}: expected host:port, got ${JSON.stringify(value)}`);
  return { host: (match[1] ?? match[2])!, port };
}

/** Formats a listen address back to `host:port` (brackets for IPv6). */
export function formatListenAddress({ host, port }: ListenAddress): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses a whole number within [min, max]; `label` names the setting in the error. */
export function parseIntegerFlag(label: string, value: string, min: number, max: number): number {
  const parsed = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(`${label}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** Log levels the programs accept. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** Parses a log level name; `label` names the setting in the error. */
export function parseLogLevel(label: string, value: string): (typeof LOG_LEVELS)[number] {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError(`${label}: expected one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as (typeof LOG_LEVELS)[number];
}

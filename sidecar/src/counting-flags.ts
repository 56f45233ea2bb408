import { DEFAULT_METRIC, MAX_LABELS, checkCountingSpec, checkLabelName, checkMetricName, type CountingSpec } from "@logtally/proto";
import { ConfigError, type FlagSpec, type ParsedValues } from "@logtally/runtime";
import type { CountingRules, FieldRef, LineFormat, ValueMatch, WhereRule } from "./parse/counting-rules";

/**
 * The flags that say what the sidecar counts and how it reads a line, and
 * their parsing into {@link CountingRules}. Every mistake is a ConfigError
 * naming the flag (or variable) it came from, raised at start-up.
 */

export const COUNTING_FLAGS = [
  {
    name: "format",
    env: "LOGTALLY_FORMAT",
    default: "csv",
    description: "How lines are read: csv (fields split on --delimiter, RFC 4180 quotes) or jsonl (one JSON object per line).",
  },
  {
    name: "delimiter",
    env: "LOGTALLY_DELIMITER",
    default: ",",
    description: "The CSV field separator: one ASCII character, or tab. csv only.",
  },
  {
    name: "metric",
    env: "LOGTALLY_METRIC",
    default: DEFAULT_METRIC,
    description:
      "The metric counted (a Prometheus name, without _total; logtally_ is reserved). Any other name than the default is " +
      "exposed by the aggregator as the counter <metric>_total.",
  },
  {
    name: "label",
    env: "LOGTALLY_LABELS",
    repeatable: { envSeparator: "," },
    description:
      "NAME=FIELD: a label of the metric and where its value is. FIELD is a column number from 1 or a header name " +
      "(csv: the file's first line is then its header), or a JSON path such as .kubernetes.labels.app (jsonl). " +
      "Default: host=1,job_name=2 (csv), host=.host,job_name=.job_name (jsonl).",
  },
  {
    name: "where",
    env: "LOGTALLY_WHERE",
    repeatable: { envSeparator: "\n" },
    description:
      "FIELD=VALUE, or FIELD=~REGEX (matching the whole value): only lines where every --where holds are counted; " +
      "the others are filtered (logtally_sidecar_rows_filtered_total). FIELD as for --label.",
  },
] as const satisfies ReadonlyArray<FlagSpec>;

type CountingFlagName = (typeof COUNTING_FLAGS)[number]["name"];

const DEFAULT_LABELS = { csv: ["host=1", "job_name=2"], jsonl: ["host=.host", "job_name=.job_name"] } as const;

/** JSON paths go deeper than this only by mistake. */
const MAX_PATH_KEYS = 32;

/**
 * Parses the counting flags into frozen rules. With none given they are
 * DEFAULT_RULES: log_host_job_count{host, job_name} from columns 1 and 2.
 */
export function parseCountingRules(parsed: ParsedValues<CountingFlagName>): CountingRules {
  const { values, labels } = parsed;
  const formatName = values.format ?? "csv";
  if (formatName !== "csv" && formatName !== "jsonl") throw new ConfigError(`${labels.format}: expected csv or jsonl, got ${JSON.stringify(formatName)}`);
  if (formatName === "jsonl" && parsed.given("delimiter")) throw new ConfigError(`${labels.delimiter}: applies to --format csv only`);
  const format: LineFormat =
    formatName === "csv"
      ? Object.freeze({ kind: "csv", delimiter: parseDelimiter(labels.delimiter, values.delimiter ?? ",") })
      : Object.freeze({ kind: "jsonl" });

  const metric = values.metric ?? DEFAULT_METRIC;
  const metricProblem = checkMetricName(metric);
  if (metricProblem) throw new ConfigError(`${labels.metric}: ${metricProblem}`);

  const labelEntries = parsed.given("label") ? parsed.list("label") : DEFAULT_LABELS[formatName];
  if (labelEntries.length > MAX_LABELS) throw new ConfigError(`${labels.label}: ${labelEntries.length} labels, more than the ${MAX_LABELS} a metric may have`);
  const labelNames: string[] = [];
  const labelFields: FieldRef[] = [];
  for (const entry of labelEntries) {
    const [name, field] = splitEntry(labels.label, entry, "NAME=FIELD");
    const nameProblem = checkLabelName(name);
    if (nameProblem) throw new ConfigError(`${labels.label}: ${nameProblem}`);
    if (labelNames.includes(name)) throw new ConfigError(`${labels.label}: label name ${name} is given twice`);
    labelNames.push(name);
    labelFields.push(parseFieldRef(labels.label, field, format));
  }
  const spec: CountingSpec = Object.freeze({ metric, labelNames: Object.freeze(labelNames) });
  // What is left to check: log_host_job_count is counted with its own labels only.
  const specProblem = checkCountingSpec(spec);
  if (specProblem) throw new ConfigError(`${parsed.given("metric") ? labels.metric : labels.label}: ${specProblem}`);

  const where = parsed.list("where").map((entry) => parseWhere(labels.where, entry, format));
  return Object.freeze({ format, spec, labelFields: Object.freeze(labelFields), where: Object.freeze(where) });
}

/** `--delimiter`: one ASCII character that cannot be part of quoting or a line end; `tab` names the tab. */
function parseDelimiter(label: string, value: string): number {
  const character = value === "tab" ? "\t" : value;
  if (character.length !== 1) throw new ConfigError(`${label}: expected one character (or tab), got ${JSON.stringify(value)}`);
  const code = character.charCodeAt(0);
  // Fields are split by byte: a non-ASCII delimiter would be several bytes of UTF-8.
  if (code > 0x7e || (code < 0x20 && code !== 0x09) || character === '"') {
    throw new ConfigError(`${label}: ${JSON.stringify(value)} cannot separate fields: give a printable ASCII character other than ", or tab`);
  }
  return code;
}

/** Splits `NAME=FIELD` (or `FIELD=VALUE`) at its first `=`; both sides must be non-empty. */
function splitEntry(label: string, entry: string, shape: string): readonly [string, string] {
  const equals = entry.indexOf("=");
  if (equals <= 0 || equals === entry.length - 1) throw new ConfigError(`${label}: expected ${shape}, got ${JSON.stringify(entry)}`);
  return [entry.slice(0, equals), entry.slice(equals + 1)];
}

/** A field: a 1-based column number or a header name (csv), a `.`-path (jsonl). */
function parseFieldRef(label: string, field: string, format: LineFormat): FieldRef {
  if (field.startsWith(".")) {
    if (format.kind === "csv") throw new ConfigError(`${label}: ${field} is a JSON path, which only --format jsonl reads; give a column number or header name`);
    const keys = field.slice(1).split(".");
    if (keys.some((key) => key.length === 0)) throw new ConfigError(`${label}: JSON path ${JSON.stringify(field)} has an empty key`);
    if (keys.length > MAX_PATH_KEYS) throw new ConfigError(`${label}: JSON path ${field} is deeper than ${MAX_PATH_KEYS} keys`);
    return Object.freeze({ kind: "path", keys: Object.freeze(keys) });
  }
  if (format.kind === "jsonl") throw new ConfigError(`${label}: ${JSON.stringify(field)} is not a JSON path: with --format jsonl, give .name or .a.b`);
  if (/^\d+$/.test(field)) {
    const column = Number(field);
    if (column < 1 || column > 10_000) throw new ConfigError(`${label}: column ${field}: columns are numbered from 1 to 10000`);
    return Object.freeze({ kind: "column", index: column - 1 });
  }
  return Object.freeze({ kind: "header", name: field });
}

/** `FIELD=VALUE` or `FIELD=~REGEX`. */
function parseWhere(label: string, entry: string, format: LineFormat): WhereRule {
  const [fieldText, condition] = splitEntry(label, entry, "FIELD=VALUE or FIELD=~REGEX");
  const field = parseFieldRef(label, fieldText, format);
  let match: ValueMatch;
  if (condition.startsWith("~")) {
    try {
      // Anchored like a Prometheus matcher: the whole value must match.
      match = Object.freeze({ kind: "regex", regex: new RegExp(`^(?:${condition.slice(1)})$`) });
    } catch (error) {
      throw new ConfigError(`${label}: ${JSON.stringify(entry)}: not a regular expression (${(error as Error).message})`);
    }
  } else {
    match = Object.freeze({ kind: "equals", value: condition });
  }
  return Object.freeze({ field, match, text: entry });
}

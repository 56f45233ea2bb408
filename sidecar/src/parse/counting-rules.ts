import { DEFAULT_SPEC, type CountingSpec } from "@logtally/proto";

/**
 * What a sidecar counts and how it reads a line, as configured by --format,
 * --delimiter, --metric, --label and --where (see counting-flags.ts): parsed
 * once at start-up, then shared, frozen, by every file's parser.
 */

/** Where a value is in a line. */
export type FieldRef =
  /** A CSV column by number; `index` counts from 0 (`--label host=1` is index 0). */
  | { readonly kind: "column"; readonly index: number }
  /** A CSV column by its name in the file's header, the first line. */
  | { readonly kind: "header"; readonly name: string }
  /** A JSON-lines member by its path of object keys (`.kubernetes.labels.app`). */
  | { readonly kind: "path"; readonly keys: readonly string[] };

/** How a --where value is compared. */
export type ValueMatch =
  | { readonly kind: "equals"; readonly value: string }
  /** `regex` is anchored at both ends: the whole value must match. */
  | { readonly kind: "regex"; readonly regex: RegExp };

/** One `--where FIELD=VALUE` or `--where FIELD=~REGEX`: a line is counted only when its field matches. */
export interface WhereRule {
  readonly field: FieldRef;
  readonly match: ValueMatch;
  /** The entry as given, for messages. */
  readonly text: string;
}

/** How lines are read. */
export type LineFormat = { readonly kind: "csv"; readonly delimiter: number } | { readonly kind: "jsonl" };

/** The counting configuration of a sidecar. */
export interface CountingRules {
  readonly format: LineFormat;
  /** The metric and its label names, as the aggregator is told (Hello.spec) unless it is the default. */
  readonly spec: CountingSpec;
  /** Where each label's value is, in the order of `spec.labelNames`. */
  readonly labelFields: readonly FieldRef[];
  /** All must match for a line to be counted. */
  readonly where: readonly WhereRule[];
}

/** What the sidecar counts with no counting flag: log_host_job_count{host, job_name} from columns 1 and 2 of a CSV file. */
export const DEFAULT_RULES: CountingRules = Object.freeze({
  format: Object.freeze({ kind: "csv", delimiter: 0x2c }),
  spec: DEFAULT_SPEC,
  labelFields: Object.freeze([Object.freeze({ kind: "column", index: 0 }), Object.freeze({ kind: "column", index: 1 })]),
  where: Object.freeze([]),
} as const);

/** Whether `value` (undefined: the field is missing) satisfies `match`. */
export function valueMatches(match: ValueMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  return match.kind === "equals" ? value === match.value : match.regex.test(value);
}

/** Whether any field of the rules is a header name: the file's first line is then its header. */
export function usesHeaderNames(rules: CountingRules): boolean {
  return [...rules.labelFields, ...rules.where.map((rule) => rule.field)].some((field) => field.kind === "header");
}

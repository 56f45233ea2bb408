import { status } from "@grpc/grpc-js";
import { checkLabel } from "@logtally/proto";
import { StatusError } from "../errors";

/** How a query selects one label: not at all, by exact value, or by prefix. */
export type LabelMatch = { readonly kind: "any" } | { readonly kind: "exact"; readonly value: string } | { readonly kind: "prefix"; readonly value: string };

/** Which (host, job_name) pairs a query selects. */
export interface CountFilter {
  readonly host: LabelMatch;
  readonly jobName: LabelMatch;
}

/** The filter fields GetCountsRequest and WatchCountsRequest share; empty means unset. */
export interface CountFilterFields {
  readonly host: string;
  readonly jobName: string;
  readonly hostPrefix: string;
  readonly jobNamePrefix: string;
}

/**
 * Reads the filter of a request. Throws an INVALID_ARGUMENT StatusError when
 * a value could never be a label (so could never match), or when one label
 * is given both exactly and as a prefix.
 */
export function parseCountFilter(fields: CountFilterFields): CountFilter {
  return {
    host: labelMatch("host", fields.host, "host_prefix", fields.hostPrefix),
    jobName: labelMatch("job_name", fields.jobName, "job_name_prefix", fields.jobNamePrefix),
  };
}

function labelMatch(exactName: string, exact: string, prefixName: string, prefix: string): LabelMatch {
  if (exact !== "" && prefix !== "") {
    throw new StatusError(status.INVALID_ARGUMENT, `give ${exactName} or ${prefixName}, not both`);
  }
  for (const [name, value] of [
    [exactName, exact],
    [prefixName, prefix],
  ] as const) {
    const problem = value === "" ? undefined : checkLabel(value);
    if (problem) throw new StatusError(status.INVALID_ARGUMENT, `${name} filter is not a valid label: ${problem}`);
  }
  if (exact !== "") return { kind: "exact", value: exact };
  if (prefix !== "") return { kind: "prefix", value: prefix };
  return { kind: "any" };
}

/** True when `value` is selected by `match`. */
export function labelMatches(match: LabelMatch, value: string): boolean {
  switch (match.kind) {
    case "any":
      return true;
    case "exact":
      return value === match.value;
    case "prefix":
      return value.startsWith(match.value);
  }
}

/** True when the pair is selected by `filter`. */
export function filterMatches(filter: CountFilter, host: string, jobName: string): boolean {
  return labelMatches(filter.host, host) && labelMatches(filter.jobName, jobName);
}

/** A canonical text for the filter: equal filters, and only they, have equal keys. */
export function filterKey(filter: CountFilter): string {
  const part = (match: LabelMatch): [string, string] => [match.kind, match.kind === "any" ? "" : match.value];
  return JSON.stringify([...part(filter.host), ...part(filter.jobName)]);
}

import * as path from "node:path";
import { checkCountingSpec, checkIdentifier, checkLabelName, checkMetricName, DEFAULT_METRIC, MAX_LABELS } from "@logtally/proto";
import { ConfigError, parseListenAddress } from "@logtally/runtime";
import { ANNOTATIONS } from "./contract";

/**
 * Checks for the values that shape an injected sidecar, whether they come from
 * a flag or an annotation. Each returns a message naming `name` when the value
 * is not valid, undefined when it is.
 */

/** The log file: an absolute, normalised path naming a file. */
export function checkLogPath(name: string, value: string): string | undefined {
  const problem = checkIdentifier(name, value, { required: true });
  if (problem) return problem;
  if (!path.posix.isAbsolute(value)) return `${name} must be an absolute path, got ${JSON.stringify(value)}`;
  if (value.endsWith("/")) return `${name} must name a file, not a directory, got ${JSON.stringify(value)}`;
  if (path.posix.normalize(value) !== value) {
    return `${name} must be a normalised path (no "." or ".." segments, no "//"), got ${JSON.stringify(value)}`;
  }
  return undefined;
}

/** A source id given verbatim: what any sidecar accepts as --source-id. */
export function checkSourceId(name: string, value: string): string | undefined {
  return checkIdentifier(name, value, { required: true });
}

const IMAGE_REFERENCE = /^[^\s\u0000-\u001f\u007f]+$/;

/** A container image reference: non-empty, no spaces or control characters. */
export function checkImage(name: string, value: string): string | undefined {
  return IMAGE_REFERENCE.test(value) ? undefined : `${name} must be an image reference, got ${JSON.stringify(value)}`;
}

/** The aggregator's gRPC address as the sidecar takes it: `host:port` with a port from 1 to 65535. */
export function checkAggregatorAddress(name: string, value: string): string | undefined {
  try {
    if (parseListenAddress(name, value).port === 0) return `${name}: port 0 cannot be connected to, got ${JSON.stringify(value)}`;
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

// A DNS-1123 subdomain: what Kubernetes accepts as a Secret's name.
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The name of a Secret in the pod's namespace: a DNS subdomain of at most 253 characters. */
export function checkSecretName(name: string, value: string): string | undefined {
  return value.length <= 253 && SECRET_NAME.test(value) ? undefined : `${name} must be the name of a Secret (a DNS subdomain), got ${JSON.stringify(value)}`;
}

/** The format of the log: csv or jsonl. */
export function checkFormat(name: string, value: string): string | undefined {
  return value === "csv" || value === "jsonl" ? undefined : `${name} must be csv or jsonl, got ${JSON.stringify(value)}`;
}

/** A CSV delimiter as the sidecar takes it: one printable ASCII character other than a quote, or `tab`. */
export function checkDelimiter(name: string, value: string): string | undefined {
  const code = value.length === 1 ? value.charCodeAt(0) : -1;
  const usable = value === "tab" || value === "\t" || (code >= 0x20 && code <= 0x7e && value !== '"');
  return usable ? undefined : `${name} must be one printable ASCII character other than a quote, or tab, got ${JSON.stringify(value)}`;
}

/** A metric name as Prometheus and logtally take it. */
export function checkMetric(name: string, value: string): string | undefined {
  const problem = checkMetricName(value);
  return problem ? `${name}: ${problem}` : undefined;
}

/** `NAME=FIELD` entries separated by commas: label names valid and distinct, every field given, at most MAX_LABELS. */
export function checkLabels(name: string, value: string): string | undefined {
  const seen = new Set<string>();
  for (const entry of value.split(",")) {
    const equals = entry.indexOf("=");
    if (equals <= 0 || equals === entry.length - 1) return `${name}: ${JSON.stringify(entry)} is not NAME=FIELD`;
    const labelName = entry.slice(0, equals).trim();
    const problem = checkLabelName(labelName);
    if (problem) return `${name}: ${problem}`;
    if (seen.has(labelName)) return `${name}: label name ${labelName} is given twice`;
    seen.add(labelName);
  }
  return seen.size > MAX_LABELS ? `${name}: ${seen.size} labels, more than the ${MAX_LABELS} a metric may have` : undefined;
}

/** `FIELD=VALUE` or `FIELD=~REGEX` entries, one per line; every regex compiles. */
export function checkWhere(name: string, value: string): string | undefined {
  for (const entry of value.split("\n").filter((line) => line.trim() !== "")) {
    const equals = entry.indexOf("=");
    if (equals <= 0) return `${name}: ${JSON.stringify(entry)} is not FIELD=VALUE or FIELD=~REGEX`;
    if (entry[equals + 1] !== "~") continue;
    try {
      new RegExp(entry.slice(equals + 2));
    } catch (error) {
      return `${name}: ${JSON.stringify(entry)}: ${(error as Error).message}`;
    }
  }
  return undefined;
}

/** Labels for the metric: those of log_host_job_count are host and job_name, so other labels need another metric. */
export function checkMetricLabels(metric: string | undefined, labels: string | undefined): string | undefined {
  if (labels === undefined || (metric ?? DEFAULT_METRIC) !== DEFAULT_METRIC) return undefined;
  const labelNames = labels.split(",").map((entry) => entry.slice(0, entry.indexOf("=")).trim());
  return checkCountingSpec({ metric: DEFAULT_METRIC, labelNames }) ? `labels other than host and job_name need ${ANNOTATIONS.metric} too` : undefined;
}

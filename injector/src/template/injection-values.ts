import * as path from "node:path";
import { checkIdentifier } from "@logtally/proto";
import { ConfigError, parseListenAddress } from "@logtally/runtime";

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

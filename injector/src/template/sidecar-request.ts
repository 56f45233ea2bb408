import { ANNOTATIONS, COUNTING_ENV, DEFAULT_LOG_PATH } from "./contract";
import { InjectionError } from "./injection-error";
import {
  checkAggregatorAddress,
  checkDelimiter,
  checkFormat,
  checkImage,
  checkLabels,
  checkLogPath,
  checkMetric,
  checkMetricLabels,
  checkSecretName,
  checkSourceId,
  checkWhere,
} from "./injection-values";
import { isJsonObject, type JsonValue } from "./json-value";

/** What the sidecar gets when a pod template's annotations do not say. */
export interface InjectionDefaults {
  /** The sidecar image. */
  readonly image: string;
  /** `host:port` of the aggregator's gRPC server. */
  readonly aggregator: string;
  /** Secret holding the bearer token (key `token`) the sidecar presents; undefined: no token. */
  readonly tokenSecret?: string | undefined;
}

/** How injection is run. */
export interface InjectionOptions extends InjectionDefaults {
  /** Inject every pod template not annotated `logtally.io/inject: "false"`, not only those annotated "true". */
  readonly all: boolean;
}

/** What one pod template asks of its sidecar: its annotations over the defaults, validated. */
export interface SidecarRequest {
  readonly logPath: string;
  /** The annotated source id; undefined when it is to be derived from where the file lives. */
  readonly sourceId: string | undefined;
  readonly image: string;
  readonly aggregator: string;
  /** The token's Secret; undefined: no token. */
  readonly tokenSecret: string | undefined;
  /** What the sidecar counts: the counting annotations given, as the sidecar's environment variables. */
  readonly countingEnv: ReadonlyArray<{ readonly name: string; readonly value: string }>;
}

/** A counting annotation's check. The sidecar checks the fields themselves when it starts. */
const COUNTING_CHECKS: Record<keyof typeof COUNTING_ENV, (name: string, value: string) => string | undefined> = {
  format: checkFormat,
  delimiter: checkDelimiter,
  metric: checkMetric,
  labels: checkLabels,
  where: checkWhere,
};

/** Whether a pod template (its `metadata`) opts in. Throws InjectionError on a value other than "true" or "false". */
export function optsIn(metadata: JsonValue | undefined, all: boolean, workload: string): boolean {
  const inject = annotation(metadata, ANNOTATIONS.inject, workload);
  if (inject !== undefined && inject !== "true" && inject !== "false") {
    throw new InjectionError(workload, `${ANNOTATIONS.inject} must be "true" or "false", got ${JSON.stringify(inject)}`);
  }
  return inject === "true" || (all && inject === undefined);
}

/** Reads and checks the annotations of a pod template that opted in. Throws InjectionError naming a bad one. */
export function readSidecarRequest(metadata: JsonValue | undefined, defaults: InjectionDefaults, workload: string): SidecarRequest {
  const read = (name: string, check: (name: string, value: string) => string | undefined): string | undefined => {
    const value = annotation(metadata, name, workload);
    const problem = value === undefined ? undefined : check(name, value);
    if (problem) throw new InjectionError(workload, problem);
    return value;
  };
  const countingEnv: Array<{ name: string; value: string }> = [];
  const counting: Partial<Record<keyof typeof COUNTING_ENV, string>> = {};
  for (const key of Object.keys(COUNTING_ENV) as Array<keyof typeof COUNTING_ENV>) {
    const value = read(ANNOTATIONS[key], COUNTING_CHECKS[key]);
    if (value === undefined) continue;
    counting[key] = value;
    // Kubernetes expands $(VAR) in env values; a regex's "$(" must stay as written.
    countingEnv.push({ name: COUNTING_ENV[key], value: value.replaceAll("$(", "$$$$(") });
  }
  const mismatch = checkMetricLabels(counting.metric, counting.labels);
  if (mismatch) throw new InjectionError(workload, `${ANNOTATIONS.labels}: ${mismatch}`);
  return {
    countingEnv,
    logPath: read(ANNOTATIONS.logPath, checkLogPath) ?? DEFAULT_LOG_PATH,
    sourceId: read(ANNOTATIONS.sourceId, checkSourceId),
    image: read(ANNOTATIONS.image, checkImage) ?? defaults.image,
    aggregator: read(ANNOTATIONS.aggregator, checkAggregatorAddress) ?? defaults.aggregator,
    tokenSecret: read(ANNOTATIONS.tokenSecret, checkSecretName) ?? defaults.tokenSecret,
  };
}

/** One annotation's value; Kubernetes only has string annotations, so anything else is refused. */
function annotation(metadata: JsonValue | undefined, name: string, workload: string): string | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  if (!isJsonObject(metadata)) throw new InjectionError(workload, "the pod template's metadata must be a map");
  const annotations = metadata.annotations;
  if (annotations === undefined || annotations === null) return undefined;
  if (!isJsonObject(annotations)) throw new InjectionError(workload, "metadata.annotations must be a map");
  const value = annotations[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new InjectionError(workload, `${name} must be a string (quote it in YAML), got ${JSON.stringify(value)}`);
  }
  return value;
}

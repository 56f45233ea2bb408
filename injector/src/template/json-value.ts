/** A value as JSON (and YAML without tags or aliases) can express it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A JSON object: a Kubernetes object, its metadata, a container... */
export interface JsonObject {
  [member: string]: JsonValue;
}

/** True for a JSON object; false for arrays, null and scalars. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

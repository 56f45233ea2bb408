import { isJsonObject, type JsonValue } from "../template/json-value";

/** An RFC 6902 operation as it travels: what a test reads back from the webhook. */
export interface PatchOperation {
  readonly op: string;
  readonly path: string;
  readonly value?: JsonValue;
}

/**
 * A deliberately small, independent RFC 6902 applier (add, replace, remove):
 * it shares no code with the patch producer, so a wrong patch is caught.
 * Returns a new document; throws on an operation RFC 6902 says must fail.
 */
export function applyJsonPatch(document: JsonValue, operations: readonly PatchOperation[]): JsonValue {
  let result = structuredClone(document);
  for (const operation of operations) {
    if (operation.path === "" && (operation.op === "replace" || operation.op === "add")) {
      result = structuredClone(operation.value!);
      continue;
    }
    if (!operation.path.startsWith("/")) throw new Error(`bad path ${operation.path}`);
    const tokens = operation.path
      .slice(1)
      .split("/")
      .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = tokens.pop()!;
    let parent: JsonValue = result;
    for (const token of tokens) {
      const next: JsonValue | undefined = Array.isArray(parent) ? parent[Number(token)] : isJsonObject(parent) ? parent[token] : undefined;
      if (next === undefined) throw new Error(`${operation.op} ${operation.path}: no ${token}`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      const limit = operation.op === "add" ? parent.length : parent.length - 1;
      if (!/^(\d+|-)$/.test(last) || index > limit) throw new Error(`${operation.op} ${operation.path}: index out of range`);
      if (operation.op === "add") parent.splice(index, 0, operation.value!);
      else if (operation.op === "replace") parent[index] = operation.value!;
      else if (operation.op === "remove") parent.splice(index, 1);
      else throw new Error(`unsupported op ${operation.op}`);
    } else if (isJsonObject(parent)) {
      if (operation.op !== "add" && !Object.hasOwn(parent, last)) throw new Error(`${operation.op} ${operation.path}: no member ${last}`);
      if (operation.op === "add" || operation.op === "replace") parent[last] = operation.value!;
      else if (operation.op === "remove") delete parent[last];
      else throw new Error(`unsupported op ${operation.op}`);
    } else {
      throw new Error(`${operation.op} ${operation.path}: parent is not a container`);
    }
  }
  return result;
}

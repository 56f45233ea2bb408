import { isDeepStrictEqual } from "node:util";
import { isJsonObject, type JsonValue } from "../template/json-value";

/** One RFC 6902 operation, as a diff produces them. */
export type JsonPatchOperation =
  | { readonly op: "add"; readonly path: string; readonly value: JsonValue }
  | { readonly op: "replace"; readonly path: string; readonly value: JsonValue }
  | { readonly op: "remove"; readonly path: string };

/**
 * The RFC 6902 operations that turn `before` into `after`:
 * - a member only `after` has is an "add" of its whole value, so a missing
 *   parent (`/metadata/labels`) is created with its members in one step;
 * - a list that only grew at its end gets one "add" at `/-` per new item, so
 *   the items already there are left alone (and any other admission change to
 *   them is not overwritten);
 * - a list of the same length is compared item by item;
 * - any other change is a "replace" of the value, and a member only `before`
 *   has is a "remove".
 * Members are visited in `after`'s order, so new members come out in that order.
 */
export function diffJson(before: JsonValue, after: JsonValue): JsonPatchOperation[] {
  const operations: JsonPatchOperation[] = [];
  diffInto(before, after, [], operations);
  return operations;
}

function diffInto(before: JsonValue, after: JsonValue, at: string[], operations: JsonPatchOperation[]): void {
  if (isDeepStrictEqual(before, after)) return;
  if (isJsonObject(before) && isJsonObject(after)) {
    for (const [key, value] of Object.entries(after)) {
      if (Object.hasOwn(before, key)) diffInto(before[key]!, value, [...at, key], operations);
      else operations.push({ op: "add", path: formatJsonPointer([...at, key]), value });
    }
    for (const key of Object.keys(before)) {
      if (!Object.hasOwn(after, key)) operations.push({ op: "remove", path: formatJsonPointer([...at, key]) });
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    if (after.length > before.length && isDeepStrictEqual(before, after.slice(0, before.length))) {
      for (const item of after.slice(before.length)) operations.push({ op: "add", path: formatJsonPointer([...at, "-"]), value: item });
      return;
    }
    if (after.length === before.length) {
      after.forEach((item, index) => diffInto(before[index]!, item, [...at, String(index)], operations));
      return;
    }
  }
  operations.push({ op: "replace", path: formatJsonPointer(at), value: after });
}

/** An RFC 6901 JSON pointer to `segments`: `~` is written `~0` and `/` is written `~1`. */
export function formatJsonPointer(segments: readonly string[]): string {
  return segments.map((segment) => `/${segment.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

/** The segments of an RFC 6901 JSON pointer; "" is the whole document. Throws on a pointer not starting with "/". */
export function parseJsonPointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`not a JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split("/")
    .map((segment) => segment.replaceAll("~1", "/").replaceAll("~0", "~"));
}

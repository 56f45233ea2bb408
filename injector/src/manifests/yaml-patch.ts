import { isMap, isScalar, isSeq, type Document } from "yaml";
import { parseJsonPointer, type JsonPatchOperation } from "../webhook/json-patch";
import type { JsonValue } from "../template/json-value";
import type { NodePath } from "../template/workloads";

/** A patch that cannot be applied to the YAML as written: the path goes through an alias, a merge key or a scalar. */
export class YamlEditError extends Error {
  override readonly name = "YamlEditError";
}

/**
 * Applies RFC 6902 operations (paths relative to `base`) to a parsed YAML
 * document in place. Only the nodes the operations name are touched, so
 * comments, key order and styles elsewhere survive; a changed scalar keeps its
 * comments. Throws YamlEditError when a path does not resolve to a map or list
 * as written.
 */
export function applyPatchToYaml(document: Document, base: NodePath, operations: readonly JsonPatchOperation[]): void {
  for (const operation of operations) {
    const segments = [...base.map(String), ...parseJsonPointer(operation.path)];
    const key = segments.pop();
    if (key === undefined) throw new YamlEditError("a patch cannot replace the whole document");
    const parent = nodeAt(document, segments);
    const newNode = (value: JsonValue): unknown => document.createNode(value, { aliasDuplicateObjects: false });
    if (isMap(parent)) {
      const existing = parent.get(key, true);
      if (operation.op === "remove") parent.delete(key);
      else if (isScalar(existing) && isScalarValue(operation.value)) existing.value = operation.value;
      else parent.set(key, newNode(operation.value));
    } else if (isSeq(parent)) {
      const index = key === "-" && operation.op === "add" ? parent.items.length : Number(key);
      const lastIndex = operation.op === "add" ? parent.items.length : parent.items.length - 1;
      if (!/^(?:0|[1-9]\d*|-)$/.test(key) || !Number.isInteger(index) || index > lastIndex) {
        throw new YamlEditError(`no item ${key} in the list at ${describe(segments)}`);
      }
      if (operation.op === "add") parent.items.splice(index, 0, newNode(operation.value));
      else if (operation.op === "remove") parent.items.splice(index, 1);
      else parent.items[index] = newNode(operation.value);
    } else {
      throw new YamlEditError(`${describe(segments)} is not written as a map or a list (is it an alias or a merge key?)`);
    }
  }
}

/** The node at `segments`, undefined when a step is missing. */
function nodeAt(document: Document, segments: readonly string[]): unknown {
  let node: unknown = document.contents;
  segments.forEach((segment, depth) => {
    if (isMap(node)) node = node.get(segment, true);
    else if (isSeq(node)) node = node.get(Number(segment), true);
    else throw new YamlEditError(`${describe(segments.slice(0, depth))} is not written as a map or a list (is it an alias or a merge key?)`);
  });
  return node;
}

function isScalarValue(value: JsonValue): boolean {
  return value === null || typeof value !== "object";
}

function describe(segments: readonly string[]): string {
  return segments.length === 0 ? "the document" : segments.join(".");
}

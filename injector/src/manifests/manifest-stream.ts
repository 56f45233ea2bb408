import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments, visit, type Document, type ToStringOptions } from "yaml";

/**
 * A YAML stream that cannot be read or injected. The message starts with the
 * document's position in the stream (`document 2, line 14:3: ...`); the CLI
 * prints it and exits 1.
 */
export class ManifestError extends Error {
  override readonly name = "ManifestError";

  constructor(
    /** 1-based number of the document in the stream. */
    readonly documentNumber: number,
    readonly problem: string,
    /** 1-based line and column in the whole stream, when the problem has one. */
    readonly position?: { readonly line: number; readonly column: number },
    options?: ErrorOptions,
  ) {
    super(`document ${documentNumber}${position ? `, line ${position.line}:${position.column}` : ""}: ${problem}`, options);
  }
}

/** One document of a stream. */
export interface ManifestDocument {
  /** 1-based position in the stream. */
  readonly number: number;
  readonly yaml: Document.Parsed;
  /** The document's bytes: from the end of the previous document to its own end (the last runs to the end of the stream). */
  readonly source: string;
  /** How the document indents, so that an edited document keeps its look. */
  readonly layout: Readonly<Pick<ToStringOptions, "indent" | "indentSeq" | "flowCollectionPadding">>;
}

/** A parsed multi-document YAML stream. */
export interface ManifestStream {
  readonly text: string;
  readonly documents: readonly ManifestDocument[];
}

/**
 * Parses a multi-document YAML stream (YAML 1.2, plus `<<` merge keys as
 * Kubernetes' YAML reader accepts them). Throws ManifestError at the first
 * syntax error, with its document, line and column.
 */
export function parseManifestStream(text: string): ManifestStream {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, merge: true });
  const documents: ManifestDocument[] = [];
  let start = 0;
  parsed.forEach((yaml, index) => {
    const number = index + 1;
    const error = yaml.errors[0];
    if (error) {
      const { line, col } = lines.linePos(error.pos[0]);
      throw new ManifestError(number, error.message, { line, column: col }, { cause: error });
    }
    const end = index === parsed.length - 1 ? text.length : yaml.range[2];
    documents.push({ number, yaml, source: text.slice(start, end), layout: detectLayout(yaml, text, lines) });
    start = end;
  });
  return { text, documents };
}

/**
 * The stream as text. A document not in `edited` is its original bytes, so
 * objects that were not injected (and a second run over injected output) come
 * out byte for byte; an edited document is written from its YAML nodes,
 * keeping its comments, key order and indentation style.
 */
export function renderManifestStream(stream: ManifestStream, edited: ReadonlySet<ManifestDocument>): string {
  if (edited.size === 0) return stream.text;
  let rendered = "";
  for (const document of stream.documents) {
    if (!edited.has(document)) {
      rendered += document.source;
      continue;
    }
    // A document's bytes may start mid-line (after an empty document's `---`).
    if (rendered !== "" && !rendered.endsWith("\n")) rendered += "\n";
    // lineWidth 0: never fold long strings that were on one line.
    rendered += document.yaml.toString({ ...document.layout, lineWidth: 0 });
  }
  return rendered;
}

/**
 * The indentation a document uses, read from its first nested block map
 * (spaces per level), its first block list under a key (indented under the key,
 * or level with it as kubectl writes) and its first non-empty flow collection
 * (`{ a: 1 }` or `{a: 1}`). yaml's defaults where the document has no example.
 */
function detectLayout(document: Document.Parsed, text: string, lines: LineCounter): ManifestDocument["layout"] {
  let indent: number | undefined;
  let indentSeq: boolean | undefined;
  let flowCollectionPadding: boolean | undefined;
  const column = (offset: number): number => lines.linePos(offset).col;
  visit(document, {
    Pair(_, pair) {
      const keyOffset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      const value = pair.value;
      if (keyOffset === undefined || !(isMap(value) || isSeq(value)) || value.flow || !value.range || value.items.length === 0) return;
      const offset = column(value.range[0]) - column(keyOffset);
      if (isMap(value) && indent === undefined && offset > 0) indent = offset;
      if (isSeq(value) && indentSeq === undefined) indentSeq = offset > 0;
    },
    Collection(_, collection) {
      if (flowCollectionPadding === undefined && collection.flow && collection.range && collection.items.length > 0) {
        flowCollectionPadding = text[collection.range[0] + 1] === " ";
      }
    },
  });
  return { indent: indent ?? 2, indentSeq: indentSeq ?? true, flowCollectionPadding: flowCollectionPadding ?? true };
}

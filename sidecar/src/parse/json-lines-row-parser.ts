import { isUtf8 } from "node:buffer";
import { checkLabel } from "@logtally/proto";
import { valueMatches, type CountingRules } from "./counting-rules";
import { bomLength, contentEnd, isBlankLine } from "./csv-fields";
import { JsonFieldScanner } from "./json-field-scanner";
import { BLANK, FILTERED, rejected, type ParsedRow, type RowParser } from "./parsed-row";

/**
 * Reads JSON lines: each line one JSON object, each field a top-level member
 * or a path of members (`.kubernetes.labels.app`).
 *
 * - One trailing "\r" is stripped, and on the first line a UTF-8 BOM. A line
 *   that is empty or only spaces and tabs is skipped as `blank`.
 * - A value is a string as is, a number or a boolean as JSON writes it
 *   (`200`, `1.5`, `true`; a number is read as a double, so `1.0` is `1`);
 *   null, an object, an array or no member at all is no value.
 * - A line whose --where fields do not all match is skipped as `filtered`
 *   (a field without a value matches nothing).
 *
 * A line is rejected with the first of these that applies: `invalid_json`
 * (not JSON, or not an object), `missing_field` (a label without a value),
 * then each label value in order per `checkLabel`, where a value holding
 * bytes that are not UTF-8 is `invalid_utf8`. Bytes that are not UTF-8
 * elsewhere in the line do not matter. Never throws.
 */
export class JsonLinesRowParser implements RowParser {
  // Lines carry timestamps and ids: a line seldom repeats, and remembering each would cost without sparing a parse.
  readonly repeatsLines = false;
  readonly needsHeader = false;
  private readonly scanner: JsonFieldScanner;
  /** The scanner's answers: each label's value, then each --where field's. */
  private readonly values: Array<string | undefined>;

  constructor(private readonly rules: CountingRules) {
    if (rules.format.kind !== "jsonl") throw new Error("JsonLinesRowParser reads --format jsonl only");
    const paths = [...rules.labelFields.map(pathKeys), ...rules.where.map((rule) => pathKeys(rule.field))];
    this.scanner = new JsonFieldScanner(paths);
    this.values = new Array<string | undefined>(paths.length);
  }

  learnHeader(): void {}

  parse(line: Buffer, isFirstLine: boolean): ParsedRow {
    const end = contentEnd(line);
    const start = isFirstLine ? bomLength(line, end) : 0;
    if (isBlankLine(line, start, end)) return BLANK;

    const values = this.values;
    if (!this.scanner.scan(line, start, end, values)) return rejected("invalid_json");
    const labelCount = this.rules.labelFields.length;
    for (let index = 0; index < this.rules.where.length; index++) {
      if (!valueMatches(this.rules.where[index]!.match, values[labelCount + index])) return FILTERED;
    }
    const labels = new Array<string>(labelCount);
    for (let index = 0; index < labelCount; index++) {
      const value = values[index];
      if (value === undefined) return rejected("missing_field");
      labels[index] = value;
    }
    for (const value of labels) {
      const problem = checkLabel(value);
      if (problem === undefined) continue;
      // Values are decoded leniently: each byte that is not UTF-8 became U+FFFD.
      if (problem === "invalid_label" && value.includes("\ufffd") && !isUtf8(line.subarray(start, end))) return rejected("invalid_utf8");
      return rejected(problem);
    }
    return { kind: "row", labels };
  }
}

function pathKeys(field: CountingRules["labelFields"][number]): readonly string[] {
  if (field.kind !== "path") throw new Error("a column in JSON-lines rules");
  return field.keys;
}

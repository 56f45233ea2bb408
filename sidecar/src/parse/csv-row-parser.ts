import { checkLabel } from "@logtally/proto";
import { usesHeaderNames, valueMatches, type CountingRules, type FieldRef } from "./counting-rules";
import { CsvDialect, FieldSpans, bomLength, contentEnd, decodeField, isBlankLine } from "./csv-fields";
import { BLANK, FILTERED, HEADER, rejected, type HeaderProblemListener, type ParsedRow, type RowParser } from "./parsed-row";

/** Columns of a header read for names; a named column further right is not found. */
const MAX_HEADER_COLUMNS = 1024;

/** A column not found in the header. */
const MISSING = -1;

/**
 * Reads CSV lines under counting rules whose fields are columns, by number or
 * by header name.
 *
 * - One trailing "\r" is stripped; on the first line (the line at file offset
 *   0) so is a leading UTF-8 BOM. A line that is empty or only spaces and tabs
 *   is skipped as `blank`.
 * - Fields are split on the delimiter with RFC 4180 quoting within the line
 *   (see CsvDialect). Only the columns up to the rightmost one the rules name
 *   are read: anything after it is not inspected at all.
 * - When the rules name a column by header, the first line is the header:
 *   it is read for the column names and skipped as `header`. Otherwise a
 *   first line whose label columns hold the label names (`host,job_name`) is
 *   skipped as `header`.
 * - A line whose --where columns do not all match is skipped as `filtered`.
 *
 * A line is rejected with the first of these that applies: the line's shape
 * (`unbalanced_quotes`; then, label by label, `missing_field` for a header
 * name the header lacks, `too_few_fields`), then the encoding of the label
 * fields (`invalid_utf8`, strict), then each label value in order per
 * `checkLabel` (`empty_field`, `field_too_long`, `invalid_label`). Never throws.
 */
export class CsvRowParser implements RowParser {
  readonly repeatsLines = true;
  readonly needsHeader: boolean;
  private readonly dialect: CsvDialect;
  private spans: FieldSpans;
  /** Column index of each label, of each --where field; MISSING for a header name the header lacks. */
  private readonly labelColumns: Int32Array;
  private readonly whereColumns: Int32Array;
  private headerState: "none" | "unread" | "read" | "unreadable";
  private readonly values: Array<string | undefined>;

  constructor(
    private readonly rules: CountingRules,
    private readonly onHeaderProblem: HeaderProblemListener = () => undefined,
  ) {
    if (rules.format.kind !== "csv") throw new Error("CsvRowParser reads --format csv only");
    this.dialect = new CsvDialect(rules.format.delimiter);
    this.labelColumns = new Int32Array(rules.labelFields.length).fill(MISSING);
    this.whereColumns = new Int32Array(rules.where.length).fill(MISSING);
    this.values = new Array<string | undefined>(rules.labelFields.length);
    this.needsHeader = usesHeaderNames(rules);
    this.headerState = this.needsHeader ? "unread" : "none";
    this.spans = this.resolveColumns(new Map());
  }

  learnHeader(firstLine: Buffer | undefined): void {
    if (!this.needsHeader) return;
    if (firstLine === undefined) {
      this.headerUnreadable("it is longer than --max-line-bytes");
      return;
    }
    const end = contentEnd(firstLine);
    this.readHeader(firstLine, bomLength(firstLine, end), end);
  }

  parse(line: Buffer, isFirstLine: boolean): ParsedRow {
    const end = contentEnd(line);
    const start = isFirstLine ? bomLength(line, end) : 0;
    if (isFirstLine && this.needsHeader) {
      this.readHeader(line, start, end);
      return HEADER;
    }
    if (isBlankLine(line, start, end)) return BLANK;
    if (this.headerState === "unread") this.headerUnreadable("it was never read");

    const spans = this.spans;
    if (!this.dialect.scanFields(line, start, end, spans)) return rejected("unbalanced_quotes");
    if (isFirstLine && this.holdsLabelNames(line, spans)) return HEADER;

    for (let index = 0; index < this.whereColumns.length; index++) {
      const column = this.whereColumns[index]!;
      const value = column === MISSING || column >= spans.count ? undefined : decodeField(line, spans, column);
      if (!valueMatches(this.rules.where[index]!.match, value)) return FILTERED;
    }

    const columns = this.labelColumns;
    for (let index = 0; index < columns.length; index++) {
      const column = columns[index]!;
      if (column === MISSING) return rejected("missing_field");
      if (column >= spans.count) return rejected("too_few_fields");
    }
    const values = this.values;
    for (let index = 0; index < columns.length; index++) {
      const value = decodeField(line, spans, columns[index]!);
      if (value === undefined) return rejected("invalid_utf8");
      values[index] = value;
    }
    for (let index = 0; index < columns.length; index++) {
      const problem = checkLabel(values[index]!);
      if (problem !== undefined) return rejected(problem);
    }
    return { kind: "row", labels: values.slice() as string[] };
  }

  /** True when each label's column holds the label's name: a header line such as `host,job_name`. */
  private holdsLabelNames(line: Buffer, spans: FieldSpans): boolean {
    const names = this.rules.spec.labelNames;
    if (names.length === 0) return false;
    for (let index = 0; index < names.length; index++) {
      const column = this.labelColumns[index]!;
      if (column >= spans.count || decodeField(line, spans, column) !== names[index]) return false;
    }
    return true;
  }

  /** Reads the column names from the header `line[start, end)` and finds the named columns in it. */
  private readHeader(line: Buffer, start: number, end: number): void {
    const spans = new FieldSpans(MAX_HEADER_COLUMNS);
    if (!this.dialect.scanFields(line, start, end, spans)) {
      this.headerUnreadable("it has unbalanced quotes");
      return;
    }
    const columnsByName = new Map<string, number>();
    for (let column = 0; column < spans.count; column++) {
      const name = decodeField(line, spans, column);
      // The first of two columns of one name is the one read.
      if (name !== undefined && !columnsByName.has(name)) columnsByName.set(name, column);
    }
    this.headerState = "read";
    this.spans = this.resolveColumns(columnsByName);
    const missing = [...this.rules.labelFields, ...this.rules.where.map((rule) => rule.field)]
      .flatMap((field) => (field.kind === "header" && !columnsByName.has(field.name) ? [field.name] : []))
      .filter((name, index, names) => names.indexOf(name) === index);
    if (missing.length > 0) {
      this.onHeaderProblem(`the header has no column ${missing.map((name) => JSON.stringify(name)).join(", ")}: rows are rejected as missing_field`);
    }
  }

  private headerUnreadable(why: string): void {
    this.headerState = "unreadable";
    this.spans = this.resolveColumns(new Map());
    this.onHeaderProblem(`the file's first line, its header, cannot be read (${why}): rows naming header columns are rejected as missing_field`);
  }

  /** Resolves every field to a column index, and sizes the scan to the rightmost one. */
  private resolveColumns(columnsByName: ReadonlyMap<string, number>): FieldSpans {
    const columnOf = (field: FieldRef): number => {
      if (field.kind === "column") return field.index;
      if (field.kind === "header") return columnsByName.get(field.name) ?? MISSING;
      throw new Error("a JSON path in CSV rules");
    };
    this.rules.labelFields.forEach((field, index) => {
      this.labelColumns[index] = columnOf(field);
    });
    this.rules.where.forEach((rule, index) => {
      this.whereColumns[index] = columnOf(rule.field);
    });
    const rightmost = Math.max(0, ...this.labelColumns, ...this.whereColumns);
    return new FieldSpans(rightmost + 1);
  }
}

import { DEFAULT_RULES, type CountingRules } from "./counting-rules";
import { CsvRowParser } from "./csv-row-parser";
import { JsonLinesRowParser } from "./json-lines-row-parser";
import type { HeaderProblemListener, ParsedRow, RowParser } from "./parsed-row";

/**
 * A parser for one file generation under `rules`: CSV or JSON lines.
 * `onHeaderProblem` is told when a CSV header cannot serve the rules.
 */
export function createRowParser(rules: CountingRules, onHeaderProblem?: HeaderProblemListener): RowParser {
  return rules.format.kind === "csv" ? new CsvRowParser(rules, onHeaderProblem) : new JsonLinesRowParser(rules);
}

// The default rules read no header, so one parser serves every caller of parseRow.
const DEFAULT_PARSER = createRowParser(DEFAULT_RULES);

/** The parser of the default rules; it holds no header, so it may be shared. */
export function defaultRowParser(): RowParser {
  return DEFAULT_PARSER;
}

/**
 * Parses one line of a `host,job_name` CSV file under the default rules (see
 * CsvRowParser): labels `[host, job_name]` from columns 1 and 2, the header
 * line `host,job_name` skipped on the first line. Never throws.
 */
export function parseRow(line: Buffer, isFirstLine: boolean): ParsedRow {
  return DEFAULT_PARSER.parse(line, isFirstLine);
}

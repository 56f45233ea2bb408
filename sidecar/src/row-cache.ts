import { parseRow, type ParsedRow } from "./row-parser";

/** Distinct lines remembered; beyond it the cache starts over, so memory stays bounded. */
export const ROW_CACHE_ENTRIES = 65_536;

/**
 * Parses lines, remembering the result per distinct line. Log files repeat a
 * few thousand distinct lines millions of times, so most rows cost one string
 * and one lookup instead of a parse. Results are shared: treat them as
 * immutable. A flood of distinct lines only makes the cache start over.
 */
export class RowCache {
  private readonly parsed = new Map<string, ParsedRow>();

  constructor(private readonly maxEntries: number = ROW_CACHE_ENTRIES) {}

  parse(line: Buffer, isFirstLine: boolean): ParsedRow {
    // The first line may be a header or carry a byte-order mark: parsed apart.
    if (isFirstLine) return parseRow(line, true);
    // latin1 maps bytes to characters one to one: distinct lines, distinct keys.
    const text = line.toString("latin1");
    let row = this.parsed.get(text);
    if (row === undefined) {
      row = parseRow(line, false);
      if (this.parsed.size >= this.maxEntries) this.parsed.clear();
      this.parsed.set(text, row);
    }
    return row;
  }
}

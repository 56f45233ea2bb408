import type { RejectReason } from "@logtally/proto";

/**
 * What one line amounts to: a row with its label values (in the order of the
 * spec's label names), a line skipped (blank, the header, or not matching
 * --where: `filtered`), or a line rejected with a reason.
 */
export type ParsedRow =
  | { readonly kind: "row"; readonly labels: readonly string[] }
  | { readonly kind: "skip"; readonly why: "blank" | "header" | "filtered" }
  | { readonly kind: "rejected"; readonly reason: RejectReason };

/**
 * Reads lines under one file's counting rules. A parser may hold what the
 * file's header taught it, so each file generation gets its own.
 */
export interface RowParser {
  /**
   * Parses one line, given without its "\n". `isFirstLine`: the line at file
   * offset 0, which may start with a byte-order mark and may be a header.
   * Never throws for any bytes. The result is shared: treat it as immutable.
   */
  parse(line: Buffer, isFirstLine: boolean): ParsedRow;
  /**
   * True when the rules name CSV columns by header: the file's first line is
   * then its header, read before any other line (see {@link learnHeader}).
   */
  readonly needsHeader: boolean;
  /**
   * Reads the header from the file's first line, without its "\n"; undefined
   * when it cannot be read (longer than --max-line-bytes). Needed when
   * shipping resumes past offset 0; at offset 0, parse() reads it from the
   * first line. A no-op for rules without header names.
   */
  learnHeader(firstLine: Buffer | undefined): void;
  /**
   * Whether a line's result is worth remembering by its bytes (RowCache):
   * true where logs repeat whole lines, false where every line differs (JSON
   * lines with a timestamp), and a cache would cost without sparing a parse.
   */
  readonly repeatsLines: boolean;
}

/** Told once per header that cannot serve the rules: `message` says why, for the log. */
export type HeaderProblemListener = (message: string) => void;

/** Shared results: a parse returns one of these rather than a new object when the line is not a row. */
export const BLANK: ParsedRow = Object.freeze({ kind: "skip", why: "blank" });
export const HEADER: ParsedRow = Object.freeze({ kind: "skip", why: "header" });
export const FILTERED: ParsedRow = Object.freeze({ kind: "skip", why: "filtered" });

const REJECTED = new Map<RejectReason, ParsedRow>();

/** The shared result of a line rejected for `reason`. */
export function rejected(reason: RejectReason): ParsedRow {
  let result = REJECTED.get(reason);
  if (result === undefined) REJECTED.set(reason, (result = Object.freeze({ kind: "rejected", reason })));
  return result;
}

/** What a line splitter reports: a line's content (in the caller's encoding), or a line too long to hold. */
export type SplitEvent =
  | { readonly kind: "line"; readonly content: string; readonly startOffset: number; readonly endOffset: number }
  | { readonly kind: "overlong"; readonly startOffset: number; readonly endOffset: number };

/**
 * The events a correct splitter reports for `bytes` fed whole from
 * `baseOffset`: written as plainly as possible, to be the specs' oracle.
 * `encoding` renders each line's bytes (latin1 keeps them byte for byte).
 */
export function referenceSplit(bytes: Buffer, baseOffset: number, maxLineBytes: number, encoding: "latin1" | "hex" = "latin1"): SplitEvent[] {
  const events: SplitEvent[] = [];
  let start = 0;
  for (let index = 0; index < bytes.length; index += 1) {
    if (bytes[index] !== 0x0a) continue;
    const startOffset = baseOffset + start;
    const endOffset = baseOffset + index + 1;
    if (index - start > maxLineBytes) events.push({ kind: "overlong", startOffset, endOffset });
    else events.push({ kind: "line", content: bytes.toString(encoding, start, index), startOffset, endOffset });
    start = index + 1;
  }
  return events;
}

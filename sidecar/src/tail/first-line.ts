import type { FollowedFile } from "./followed-file";

/** Bytes read at a time while looking for the end of the first line. */
const STEP_BYTES = 64 * 1024;

/**
 * The file's first line, without its "\n": what a CSV header is read from
 * when shipping resumes past it. Undefined when the line is longer than
 * `maxLineBytes` or not complete yet. Reads at most `maxLineBytes + 1` bytes.
 */
export async function readFirstLine(file: Pick<FollowedFile, "readAt">, maxLineBytes: number): Promise<Buffer | undefined> {
  const limit = maxLineBytes + 1;
  let head = Buffer.alloc(Math.min(STEP_BYTES, limit));
  let held = 0;
  for (;;) {
    const bytes = await file.readAt(head.subarray(held), held);
    if (bytes === 0) return undefined;
    const newline = head.indexOf(0x0a, held);
    held += bytes;
    if (newline >= 0 && newline < held) return head.subarray(0, newline);
    if (held >= limit) return undefined;
    if (held === head.length) {
      const grown = Buffer.alloc(Math.min(limit, 2 * head.length));
      head.copy(grown, 0, 0, held);
      head = grown;
    }
  }
}

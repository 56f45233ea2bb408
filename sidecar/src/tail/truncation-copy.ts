import { FollowedFile } from "./followed-file";

/**
 * After `live` was truncated in place, the copy logrotate's copytruncate
 * made of it (`<path>.1`), when that copy holds what was counted of it up to
 * `committedOffset` (the same bytes before it, by `anchor`) and more rows
 * after: those rows were written before the truncation and are in no other
 * file. Undefined when there is no such copy; the caller closes the one it
 * gets.
 */
export async function copyHoldingTheRest(
  path: string,
  live: FollowedFile,
  committedOffset: number,
  anchor: string | undefined,
): Promise<FollowedFile | undefined> {
  // With nothing counted there is nothing to match the copy against.
  if (committedOffset === 0 || anchor === undefined) return undefined;
  const copy = await FollowedFile.open(`${path}.1`);
  if (!copy) return undefined;
  const holdsTheRest = copy.ino !== live.ino && (await copy.size()) > committedOffset && (await copy.anchorAt(committedOffset)) === anchor;
  if (holdsTheRest) return copy;
  await copy.close();
  return undefined;
}

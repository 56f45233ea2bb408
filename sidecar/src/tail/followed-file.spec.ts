import { test, type TestContext } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { ANCHOR_WINDOW_BYTES, FollowedFile, IDENTITY_HEAD_BYTES, anchorOf } from "./followed-file";

/** A temp directory removed when the test ends, whatever its outcome. */
async function tempDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "logtally-followed-file-"));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens `file`, which must exist, and closes it when the test ends. */
async function openFile(t: TestContext, file: string): Promise<FollowedFile> {
  const followed = await FollowedFile.open(file);
  assert.ok(followed, `${file} should open`);
  t.after(() => followed.close());
  return followed;
}

const ID_PATTERN = /^(\d+)-([0-9a-f]{16})$/;

/** The checksum part of a file id. */
function checksumOf(fileId: string | undefined): string {
  const match = ID_PATTERN.exec(fileId ?? "");
  assert.ok(match, `file id ${String(fileId)} is <inode>-<16 hex>`);
  return match[2]!;
}

test("opening a missing file gives undefined", async (t) => {
  const dir = await tempDir(t);
  assert.equal(await FollowedFile.open(path.join(dir, "absent.csv")), undefined);
});

test("open() keeps the path and inode", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, "h1,j1\n");
  const followed = await openFile(t, file);
  assert.equal(followed.openedAs, file);
  assert.equal(followed.ino, (await fs.stat(file)).ino);
  assert.equal(await followed.size(), 6);
});

test("the file id waits for the first line to be complete", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, "");
  const followed = await openFile(t, file);
  assert.equal(await followed.fileId(), undefined, "empty file");
  await fs.appendFile(file, "host,job_na");
  assert.equal(await followed.fileId(), undefined, "first line incomplete");
  await fs.appendFile(file, "me\n");
  const fileId = await followed.fileId();
  const { ino } = await fs.stat(file);
  assert.match(fileId ?? "", ID_PATTERN);
  assert.ok(fileId?.startsWith(`${ino}-`), `${fileId} starts with the inode ${ino}`);
  // The first 16 hex digits of SHA-256("host,job_name\n"): ids stored by earlier versions must still match.
  assert.equal(fileId, `${ino}-4e92589fbb6029a4`);
  await fs.appendFile(file, "h1,j1\nh2,j2\n");
  assert.equal(await followed.fileId(), fileId, "later lines do not change the id");
});

test("the checksum part depends on the first line only", async (t) => {
  const dir = await tempDir(t);
  const writeAndId = async (name: string, content: string): Promise<string | undefined> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, content);
    return (await openFile(t, file)).fileId();
  };
  const a = await writeAndId("a.csv", "host,job_name\nh1,j1\n");
  const sameFirstLine = await writeAndId("b.csv", "host,job_name\nh9,j9\nh8,j8\n");
  const otherFirstLine = await writeAndId("c.csv", "h1,j1\nh1,j1\n");
  assert.notEqual(a, sameFirstLine, "different inodes, different ids");
  assert.equal(checksumOf(a), checksumOf(sameFirstLine));
  assert.notEqual(checksumOf(a), checksumOf(otherFirstLine));
});

test("two opens of one file agree on its id", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, "host,job_name\nh1,j1\n");
  const first = await openFile(t, file);
  const second = await openFile(t, file);
  const id = await first.fileId();
  assert.notEqual(id, undefined);
  assert.equal(await second.fileId(), id);
});

test("a file replaced by another with the same first line gets another id", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  const content = "host,job_name\nh1,j1\n";
  await fs.writeFile(file, content);
  const original = await openFile(t, file);
  // Written while the original still exists, so it cannot reuse its inode.
  const replacement = path.join(dir, "log.csv.tmp");
  await fs.writeFile(replacement, content);
  await fs.rename(replacement, file);
  const reopened = await openFile(t, file);
  assert.notEqual(reopened.ino, original.ino);
  const originalId = await original.fileId();
  const reopenedId = await reopened.fileId();
  assert.notEqual(reopenedId, originalId);
  assert.ok(reopenedId?.startsWith(`${reopened.ino}-`));
  assert.equal(checksumOf(reopenedId), checksumOf(originalId));
});

test("a first line longer than the identity head needs no newline", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, "x".repeat(IDENTITY_HEAD_BYTES - 1));
  const followed = await openFile(t, file);
  assert.equal(await followed.fileId(), undefined, "one byte short of the head, no newline");
  await fs.appendFile(file, "x".repeat(1000));
  const fileId = await followed.fileId();
  assert.match(fileId ?? "", ID_PATTERN);
  // The id must not change once the line completes, or the file would look new.
  await fs.appendFile(file, "\nh1,j1\n");
  assert.equal(await followed.fileId(), fileId);
});

test("anchorAt(0) is empty", async (t) => {
  const dir = await tempDir(t);
  const empty = path.join(dir, "empty.csv");
  const full = path.join(dir, "full.csv");
  await fs.writeFile(empty, "");
  await fs.writeFile(full, "h1,j1\n");
  assert.equal(await (await openFile(t, empty)).anchorAt(0), "");
  assert.equal(await (await openFile(t, full)).anchorAt(0), "");
  assert.equal(anchorOf(new Uint8Array(0)), "");
});

test("an anchor is the first 32 hex digits of the window's SHA-256, as anchors already stored were computed", () => {
  assert.equal(anchorOf(Buffer.from("host-1,job-a\n")), "50eac8fdfe3940c847848f9b41669fa0");
});

test("anchorAt(n) is the anchor of the window of bytes before n", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  const bytes = Buffer.from(
    Array.from({ length: 300 }, (_, index) => `h${index},j${index % 7}\n`)
      .join("")
      .slice(0, 300),
  );
  await fs.writeFile(file, bytes);
  const followed = await openFile(t, file);
  const anchors = new Set<string>();
  for (const offset of [1, 2, 10, ANCHOR_WINDOW_BYTES - 1, ANCHOR_WINDOW_BYTES, ANCHOR_WINDOW_BYTES + 1, 150, 299, 300]) {
    const expected = anchorOf(bytes.subarray(Math.max(0, offset - ANCHOR_WINDOW_BYTES), offset));
    assert.match(expected, /^[0-9a-f]{32}$/);
    assert.equal(await followed.anchorAt(offset), expected, `offset ${offset}`);
    anchors.add(expected);
  }
  assert.equal(anchors.size, 9, "each offset has its own anchor");
});

test("anchorAt() checksums only the window: a change before it goes unnoticed, one inside it does not", async (t) => {
  const dir = await tempDir(t);
  const before = path.join(dir, "before.csv");
  const after = path.join(dir, "after.csv");
  const tail = "t".repeat(ANCHOR_WINDOW_BYTES);
  await fs.writeFile(before, `aaaa${tail}`);
  await fs.writeFile(after, `bbbb${tail}`);
  const end = 4 + ANCHOR_WINDOW_BYTES;
  assert.equal(await (await openFile(t, before)).anchorAt(end), await (await openFile(t, after)).anchorAt(end));
  const changedInWindow = path.join(dir, "changed.csv");
  await fs.writeFile(changedInWindow, `aaaa${tail.slice(1)}u`);
  assert.notEqual(await (await openFile(t, before)).anchorAt(end), await (await openFile(t, changedInWindow)).anchorAt(end));
});

test("anchorAt() past the end of the file is undefined", async (t) => {
  const dir = await tempDir(t);
  const small = path.join(dir, "small.csv");
  const large = path.join(dir, "large.csv");
  await fs.writeFile(small, "h1,j1\n");
  await fs.writeFile(large, "h1,j1\n".repeat(50));
  const smallFile = await openFile(t, small);
  const largeFile = await openFile(t, large);
  assert.notEqual(await smallFile.anchorAt(6), undefined);
  assert.equal(await smallFile.anchorAt(7), undefined);
  assert.equal(await smallFile.anchorAt(1000), undefined);
  assert.notEqual(await largeFile.anchorAt(300), undefined);
  assert.equal(await largeFile.anchorAt(301), undefined);
  // A truncated file no longer has the bytes before the old offset.
  await fs.truncate(large, 100);
  assert.equal(await largeFile.anchorAt(300), undefined);
});

test("readAt() reads by offset and returns 0 at the end", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, "0123456789");
  const followed = await openFile(t, file);
  const buffer = Buffer.alloc(4);
  assert.equal(await followed.readAt(buffer, 3), 4);
  assert.equal(buffer.toString(), "3456");
  assert.equal(await followed.readAt(buffer, 8), 2);
  assert.equal(buffer.subarray(0, 2).toString(), "89");
  assert.equal(await followed.readAt(buffer, 10), 0);
});

test("a renamed or deleted file is still read through the held descriptor", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, "old,first\n");
  const followed = await openFile(t, file);
  await fs.rename(file, `${file}.1`);
  await fs.writeFile(file, "new,content-that-is-longer\n");
  // A late write by a writer that still holds the rotated file.
  await fs.appendFile(`${file}.1`, "old,late\n");
  const buffer = Buffer.alloc(64);
  const bytes = await followed.readAt(buffer, 0);
  assert.equal(buffer.subarray(0, bytes).toString(), "old,first\nold,late\n");
  assert.equal(await followed.size(), 19);
  assert.equal(followed.openedAs, file);
  await fs.unlink(`${file}.1`);
  assert.equal(await followed.readAt(buffer, 10), 9);
  assert.equal(buffer.subarray(0, 9).toString(), "old,late\n");
});

test("close() is idempotent", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  await fs.writeFile(file, "h1,j1\n");
  const followed = await FollowedFile.open(file);
  assert.ok(followed);
  await followed.close();
  await followed.close();
  await assert.rejects(followed.readAt(Buffer.alloc(1), 0));
});

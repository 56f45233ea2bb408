import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { CredentialFileError, CredentialFiles } from "./credential-files";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-credentials-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let dirCount = 0;
function freshDir(): string {
  const dir = path.join(root, String(++dirCount));
  fs.mkdirSync(dir);
  return dir;
}

/** Collects what a CredentialFiles logs. */
function recordingLogger(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

/** Upper-cases the file's text; refuses text containing "bad". */
function parseUpper([contents]: readonly Buffer[]): string {
  const text = contents!.toString("utf8");
  if (text.includes("bad")) throw new Error("holds something bad");
  return text.toUpperCase();
}

/**
 * Writes `contents` the way the kubelet updates a mounted Secret: into a new
 * timestamped directory, then swaps the `..data` symlink the file links through.
 */
function writeLikeKubelet(dir: string, name: string, contents: string): string {
  const version = path.join(dir, `..${Date.now()}-${Math.random()}`);
  fs.mkdirSync(version);
  fs.writeFileSync(path.join(version, name), contents);
  const staging = path.join(dir, "..data_tmp");
  fs.symlinkSync(path.basename(version), staging);
  fs.renameSync(staging, path.join(dir, "..data"));
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) fs.symlinkSync(path.join("..data", name), file);
  return file;
}

test("reads the files at construction and refuses unusable ones with the file's name", () => {
  const dir = freshDir();
  const { log } = recordingLogger();
  const file = path.join(dir, "token");
  assert.throws(
    () => new CredentialFiles([file], parseUpper, log),
    (error: unknown) => error instanceof CredentialFileError && error.path === file && error.message.includes(`cannot read ${file}`),
  );
  fs.writeFileSync(file, "bad");
  assert.throws(
    () => new CredentialFiles([file], parseUpper, log),
    (error: unknown) => error instanceof CredentialFileError && /holds something bad/.test(error.message),
  );
  fs.writeFileSync(file, "good");
  assert.equal(new CredentialFiles([file], parseUpper, log).current(), "GOOD");
});

test("a reload hands over a valid change, and keeps the last valid value when the files are unreadable or invalid", async () => {
  const dir = freshDir();
  const { log, lines } = recordingLogger();
  const file = writeLikeKubelet(dir, "token", "one");
  const files = new CredentialFiles([file], parseUpper, log);
  const seen: string[] = [];
  files.onChange((value) => seen.push(value));

  assert.equal(await files.reload(), false, "unchanged files are no change");
  writeLikeKubelet(dir, "token", "two");
  assert.equal(await files.reload(), true);
  assert.equal(files.current(), "TWO");

  writeLikeKubelet(dir, "token", "bad three");
  assert.equal(await files.reload(), false);
  assert.equal(await files.reload(), false);
  assert.equal(files.current(), "TWO");
  assert.equal(lines.filter((line) => line.msg === "credential files are not valid: keeping the credentials in use").length, 1, "logged once");
  assert.ok(!JSON.stringify(lines).includes("bad three"), "the contents are never logged");

  fs.rmSync(path.join(dir, "..data"));
  assert.equal(await files.reload(), false);
  assert.equal(files.current(), "TWO");
  assert.ok(lines.some((line) => line.msg === "cannot read credential files: keeping the credentials in use"));

  writeLikeKubelet(dir, "token", "four");
  assert.equal(await files.reload(), true);
  assert.deepEqual(seen, ["TWO", "FOUR"]);
});

test("start() reloads at an interval until stop()", async () => {
  const dir = freshDir();
  const { log } = recordingLogger();
  const file = path.join(dir, "token");
  fs.writeFileSync(file, "one");
  const files = new CredentialFiles([file], parseUpper, log);
  const changed = new Promise<string>((resolve) => files.onChange(resolve));
  files.start(20);
  // The reload timer is unref()ed: something else must hold the process open meanwhile.
  const holdOpen = setInterval(() => undefined, 1000);
  try {
    fs.writeFileSync(file, "two");
    assert.equal(await changed, "TWO");
  } finally {
    files.stop();
    clearInterval(holdOpen);
  }
});

import { test, type TestContext } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { inodeOf, listRotationChain, nextInChain, type ChainLink } from "./rotation";

/** A temp directory removed when the test ends, whatever its outcome. */
async function tempDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "logtally-rotation-"));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function link(file: string): Promise<ChainLink> {
  const stat = await fs.stat(file);
  return { path: file, ino: stat.ino, mtimeMs: stat.mtimeMs };
}

test("the chain lists existing files oldest first, ending with the live file", async (t) => {
  const dir = await tempDir(t);
  const base = path.join(dir, "log.csv");
  for (const name of ["log.csv", "log.csv.1", "log.csv.2", "log.csv.3"]) await fs.writeFile(path.join(dir, name), name);
  const chain = await listRotationChain(base, 3);
  assert.deepEqual(chain, [await link(`${base}.3`), await link(`${base}.2`), await link(`${base}.1`), await link(base)]);
  assert.equal(new Set(chain.map((entry) => entry.ino)).size, 4);
});

test("the chain skips missing links, directories and compressed or further files", async (t) => {
  const dir = await tempDir(t);
  const base = path.join(dir, "log.csv");
  await fs.writeFile(base, "live");
  await fs.writeFile(`${base}.1`, "one");
  await fs.mkdir(`${base}.2`);
  await fs.writeFile(`${base}.4`, "four");
  await fs.writeFile(`${base}.3.gz`, "compressed");
  await fs.writeFile(`${base}.6`, "beyond the links followed");
  assert.deepEqual(await listRotationChain(base, 5), [await link(`${base}.4`), await link(`${base}.1`), await link(base)]);
});

test("maxRotated 0 follows the live file only", async (t) => {
  const dir = await tempDir(t);
  const base = path.join(dir, "log.csv");
  await fs.writeFile(base, "live");
  await fs.writeFile(`${base}.1`, "one");
  assert.deepEqual(await listRotationChain(base, 0), [await link(base)]);
});

test("the chain may lack the live file, or be empty", async (t) => {
  const dir = await tempDir(t);
  const base = path.join(dir, "log.csv");
  assert.deepEqual(await listRotationChain(base, 5), []);
  await fs.writeFile(`${base}.1`, "one");
  assert.deepEqual(await listRotationChain(base, 5), [await link(`${base}.1`)]);
  await fs.mkdir(base);
  assert.deepEqual(await listRotationChain(base, 5), [await link(`${base}.1`)], "a directory at the live path is not a link");
});

test("after a rename rotation the old inode is followed by the new live file", async (t) => {
  const dir = await tempDir(t);
  const base = path.join(dir, "log.csv");
  await fs.writeFile(base, "first generation\n");
  const rotatedIno = (await fs.stat(base)).ino;
  await fs.rename(base, `${base}.1`);
  await fs.writeFile(base, "second generation\n");
  const chain = await listRotationChain(base, 5);
  assert.deepEqual(
    chain.map((entry) => entry.path),
    [`${base}.1`, base],
  );
  assert.equal(chain[0]?.ino, rotatedIno);
  assert.deepEqual(nextInChain(chain, rotatedIno), await link(base));
});

test("nextInChain gives the next newer link, none after the newest, the oldest for an inode gone", () => {
  const chain: ChainLink[] = [
    { path: "log.csv.2", ino: 30, mtimeMs: 1 },
    { path: "log.csv.1", ino: 20, mtimeMs: 2 },
    { path: "log.csv", ino: 10, mtimeMs: 3 },
  ];
  assert.equal(nextInChain(chain, 30), chain[1]);
  assert.equal(nextInChain(chain, 20), chain[2]);
  assert.equal(nextInChain(chain, 10), undefined);
  assert.equal(nextInChain(chain, 99), chain[0]);
  assert.equal(nextInChain([], 99), undefined);
});

test("inodeOf gives the inode a path names now, undefined when missing", async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, "log.csv");
  assert.equal(await inodeOf(file), undefined);
  await fs.writeFile(file, "x");
  const ino = (await fs.stat(file)).ino;
  assert.equal(await inodeOf(file), ino);
  const replacement = path.join(dir, "log.csv.new");
  await fs.writeFile(replacement, "y");
  await fs.rename(replacement, file);
  const replacedIno = await inodeOf(file);
  assert.notEqual(replacedIno, ino);
  assert.equal(replacedIno, (await fs.stat(file)).ino);
  await fs.unlink(file);
  assert.equal(await inodeOf(file), undefined);
});

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { rulesOf } from "../testing/counting-rules";
import { CsvRowParser } from "../parse/csv-row-parser";
import { readFirstLine } from "./first-line";
import { FollowedFile } from "./followed-file";

async function withFile(content: string, body: (file: FollowedFile) => Promise<void>): Promise<void> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "first-line-"));
  const file = path.join(directory, "log.csv");
  await fs.writeFile(file, content);
  const followed = (await FollowedFile.open(file))!;
  try {
    await body(followed);
  } finally {
    await followed.close();
    await fs.rm(directory, { recursive: true, force: true });
  }
}

test("the first line is read whole, however long, up to the line limit", async () => {
  const long = `${"c".repeat(200_000)}\n`;
  await withFile(`${long}a,b\n`, async (file) => {
    assert.equal((await readFirstLine(file, 1 << 20))?.length, 200_000);
    assert.equal(await readFirstLine(file, 199_999), undefined, "longer than the limit");
    assert.equal((await readFirstLine(file, 200_000))?.length, 200_000);
  });
  await withFile("no newline yet", async (file) => assert.equal(await readFirstLine(file, 1024), undefined));
  await withFile("", async (file) => assert.equal(await readFirstLine(file, 1024), undefined));
});

test("shipping resumed past the header reads it from the file: rows name the same columns", async () => {
  await withFile("level,code\r\nerror,E1\ninfo,E2\n", async (file) => {
    const rows = new CsvRowParser(rulesOf("--metric", "m", "--label", "code=code", "--where", "level=error"));
    rows.learnHeader(await readFirstLine(file, 1024));
    assert.deepEqual(rows.parse(Buffer.from("error,E1"), false), { kind: "row", labels: ["E1"] });
    assert.deepEqual(rows.parse(Buffer.from("info,E2"), false), { kind: "skip", why: "filtered" });
  });
});

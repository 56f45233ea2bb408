import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const DEMO = path.resolve(__dirname, "../../scripts/demo.mjs");

/** The README's quick start: the demo runs the whole pipeline and finds the counts exact. */
test("the demo runs the pipeline and reports exact counts", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-demo-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [DEMO, "--seconds", "3", "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--dir", dir, "--rows-per-second", "2000"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  t.after(() => child.kill("SIGKILL"));
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  assert.equal(code, 0, output);
  assert.match(output, /Prometheus scrape http:\/\/127\.0\.0\.1:\d+\/metrics/);
  assert.match(output, /every row written was counted exactly once/);
  const finalTable = output.slice(output.indexOf("final counts"));
  const rows = [...finalTable.matchAll(/^ {2}server\d +\w+ +(\d+) +(\d+)$/gm)];
  assert.ok(rows.length > 0, output);
  for (const [, counted, written] of rows) assert.equal(counted, written);
  assert.ok(rows.reduce((sum, [, counted]) => sum + Number(counted), 0) > 1000, "the writer wrote rows");
});

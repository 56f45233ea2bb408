import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { PROTOCOL_VERSION } from "@logtally/proto";
import { REPO_ROOT } from "@logtally/testing";

/**
 * logtally installs like a product: `scripts/pack.mjs` gives one tarball per
 * program, which installs into an empty directory (its workspace packages
 * bundled, the rest from the registry) and runs; in the repository, the
 * programs' commands are linked by `npm ci` and work once built. Every
 * program prints its version, and the protocol version for those that speak it.
 */

const run = promisify(execFile);
/** Generous bound for an install from the registry; never a measurement. */
const INSTALL_TIMEOUT_MS = 180_000;
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;

const PROGRAMS = [
  { name: "sidecar", version: `logtally-sidecar ${VERSION} (protocol ${PROTOCOL_VERSION})`, usage: "Usage: logtally-sidecar [options]" },
  { name: "aggregator", version: `logtally-aggregator ${VERSION} (protocol ${PROTOCOL_VERSION})`, usage: "Usage: logtally-aggregator [options]" },
  { name: "injector", version: `logtally-injector ${VERSION}`, usage: "Usage: logtally-injector inject|webhook [options]" },
] as const;

/** The file names inside a tarball. */
async function tarballFiles(tarball: string): Promise<string[]> {
  const { stdout } = await run("tar", ["-tzf", tarball], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim().split("\n");
}

describe("installing the programs", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-install-"));
  const packed = path.join(root, "packed");
  const tarballs = new Map<string, string>();

  before(async () => {
    const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, "scripts/pack.mjs"), "--out", packed], {
      cwd: REPO_ROOT,
      timeout: INSTALL_TIMEOUT_MS,
    });
    for (const line of stdout.trim().split("\n")) {
      const program = /logtally-(\w+)-[\d.]+\.tgz$/.exec(line)?.[1];
      if (program) tarballs.set(program, path.resolve(REPO_ROOT, line));
    }
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const program of PROGRAMS) {
    describe(`logtally-${program.name}`, () => {
      it("packs into one tarball of its build, with its workspace packages bundled and no sources or specs", async () => {
        const tarball = tarballs.get(program.name);
        assert.ok(tarball && fs.existsSync(tarball), `no tarball for ${program.name}: ${[...tarballs.values()].join(", ")}`);
        const files = await tarballFiles(tarball);
        assert.ok(files.includes(`package/bin/logtally-${program.name}.js`));
        assert.ok(files.includes("package/dist/main.js"));
        assert.ok(files.includes("package/node_modules/@logtally/runtime/dist/index.js"), "the runtime package is bundled");
        assert.ok(files.includes("package/node_modules/@logtally/proto/dist/index.js"), "the protocol package is bundled");
        const unwanted = files.filter((file) => /\/src\/|\.spec\.|\/dist\/testing\/|tsconfig|\.tsbuildinfo/.test(file));
        assert.deepEqual(unwanted, []);
      });

      it("installs into an empty directory and runs --version and --help", { timeout: INSTALL_TIMEOUT_MS }, async () => {
        const directory = fs.mkdtempSync(path.join(root, `${program.name}-`));
        await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarballs.get(program.name)!], {
          cwd: directory,
          timeout: INSTALL_TIMEOUT_MS,
        });
        const command = path.join(directory, "node_modules/.bin", `logtally-${program.name}`);
        assert.equal((await run(command, ["--version"], { cwd: directory })).stdout.trim(), program.version);
        const help = (await run(command, ["--help"], { cwd: directory })).stdout;
        assert.ok(help.startsWith(program.usage), help);
        // Nothing of the installation is compiled: no native addon to mismatch the runtime.
        const { stdout: addons } = await run("find", ["node_modules", "-name", "*.node"], { cwd: directory });
        assert.equal(addons.trim(), "");
      });

      it("runs with npx in the repository once built", async () => {
        const { stdout } = await run("npx", ["--no-install", `logtally-${program.name}`, "--version"], { cwd: REPO_ROOT });
        assert.equal(stdout.trim(), program.version);
      });
    });
  }
});

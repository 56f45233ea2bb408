#!/usr/bin/env node
// Packs each program (sidecar, aggregator, injector) into one tarball that
// installs on its own: `npm install ./logtally-aggregator-0.1.0.tgz`.
//   node scripts/pack.mjs [--out DIR] [program ...]     (after `npm run build`)
//
// The programs share the workspace packages @logtally/proto and
// @logtally/runtime, which are not published: each tarball carries them as
// bundled dependencies, and declares their own dependencies so that npm
// installs those from the registry. npm cannot bundle a workspace link
// itself, so the program is packed from a staging directory that holds real
// copies of the packed workspace packages.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";

const ROOT = path.resolve(import.meta.dirname, "..");
const PROGRAMS = ["sidecar", "aggregator", "injector"];
const SCOPE = "@logtally/";

const { values, positionals } = parseArgs({ options: { out: { type: "string", default: path.join(ROOT, "packed") } }, allowPositionals: true });
const programs = positionals.length > 0 ? positionals : PROGRAMS;
for (const program of programs) if (!PROGRAMS.includes(program)) fail(`unknown program ${program}: one of ${PROGRAMS.join(", ")}`);

const outDir = path.resolve(values.out);
fs.mkdirSync(outDir, { recursive: true });
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-pack-"));
try {
  for (const program of programs) console.log(path.relative(process.cwd(), packProgram(program)));
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

/** Packs `program` with its workspace dependencies bundled; returns the tarball's path. */
function packProgram(program) {
  const manifest = readManifest(program);
  const bundled = workspaceDependencies(manifest);
  const stage = path.join(scratch, program);
  extract(npmPack(program), stage);
  const dependencies = { ...manifest.dependencies };
  for (const name of bundled) {
    const dependency = readManifest(workspaceOf(name));
    extract(npmPack(workspaceOf(name)), path.join(stage, "node_modules", name));
    for (const [third, range] of Object.entries(dependency.dependencies ?? {})) {
      if (third.startsWith(SCOPE)) continue;
      if (dependencies[third] !== undefined && dependencies[third] !== range) {
        fail(`${program} needs ${third}@${dependencies[third]} but its bundled ${name} needs ${range}: align the versions`);
      }
      dependencies[third] = range;
    }
  }
  const staged = JSON.parse(fs.readFileSync(path.join(stage, "package.json"), "utf8"));
  staged.dependencies = Object.fromEntries(Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b)));
  staged.bundleDependencies = bundled;
  fs.writeFileSync(path.join(stage, "package.json"), `${JSON.stringify(staged, null, 2)}\n`);
  const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", outDir], { cwd: stage, encoding: "utf8" }).trim().split("\n").pop();
  return path.join(outDir, tarball);
}

/** The @logtally/* packages `manifest` depends on, directly or through one another. */
function workspaceDependencies(manifest) {
  const found = new Set();
  const visit = (dependencies = {}) => {
    for (const name of Object.keys(dependencies)) {
      if (!name.startsWith(SCOPE) || found.has(name)) continue;
      found.add(name);
      visit(readManifest(workspaceOf(name)).dependencies);
    }
  };
  visit(manifest.dependencies);
  return [...found].sort();
}

function workspaceOf(name) {
  return name.slice(SCOPE.length);
}

function readManifest(workspace) {
  return JSON.parse(fs.readFileSync(path.join(ROOT, workspace, "package.json"), "utf8"));
}

/** `npm pack` of a workspace into the scratch directory; the tarball's path. */
function npmPack(workspace) {
  if (!fs.existsSync(path.join(ROOT, workspace, "dist"))) fail(`${workspace}/dist is missing: run \`npm run build\` first`);
  const output = execFileSync("npm", ["pack", "--silent", "--workspace", `${SCOPE}${workspace}`, "--pack-destination", scratch], { cwd: ROOT, encoding: "utf8" });
  return path.join(scratch, output.trim().split("\n").pop());
}

function extract(tarball, directory) {
  fs.mkdirSync(directory, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", directory, "--strip-components=1"]);
}

function fail(message) {
  console.error(`pack: ${message}`);
  process.exit(1);
}

#!/usr/bin/env node
// The supply-chain rules that need no network, checked on a checkout:
//   node scripts/check-dependencies.mjs [ROOT]
// - every dependency of every package.json is an exact version, and the
//   lockfile holds each package fetched from the registry with its checksum;
// - no installed dependency has install scripts that allowScripts (the root
//   package.json) does not decide on, and allowScripts denies or allows by name;
// - node_modules holds no native addon (*.node): nothing is compiled at install.
// Prints one line per breach and exits 1 when there is any.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, ".."));
const breaches = [];
const rootManifest = readJson("package.json");

for (const manifestPath of ["package.json", ...(rootManifest.workspaces ?? []).map((workspace) => `${workspace}/package.json`)]) {
  const manifest = readJson(manifestPath);
  for (const field of ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"]) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(range)) breaches.push(`${manifestPath}: ${field} ${name}@${range} is not an exact version`);
    }
  }
}

const lock = readJson("package-lock.json");
for (const [location, entry] of Object.entries(lock.packages ?? {})) {
  if (location === "" || entry.link || !location.includes("node_modules/")) continue;
  if (!entry.integrity) breaches.push(`package-lock.json: ${location} has no integrity checksum`);
}

for (const [name, allowed] of Object.entries(rootManifest.allowScripts ?? {})) {
  if (typeof allowed !== "boolean") breaches.push(`package.json: allowScripts.${name} must be true or false`);
}
const unreviewed = execFileSync("npm", ["install-scripts", "ls"], { cwd: root, encoding: "utf8" }).trim();
if (!/^No packages with unreviewed install scripts/.test(unreviewed)) breaches.push(`install scripts not decided on in allowScripts:\n${unreviewed}`);

const addons = execFileSync("find", ["node_modules", "-name", "*.node", "-type", "f"], { cwd: root, encoding: "utf8" }).trim();
if (addons) breaches.push(`native addons installed:\n${addons}`);

for (const breach of breaches) console.error(`check-dependencies: ${breach}`);
if (breaches.length > 0) process.exit(1);
console.log(`check-dependencies: ${root}: dependencies pinned, install scripts decided on, no native addon`);

function readJson(file) {
  return JSON.parse(fs.readFileSync(path.join(root, file), "utf8"));
}

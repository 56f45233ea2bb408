import { type ExecFileSyncOptions, execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "@logtally/testing";
import { programsIn, type Programs } from "./processes";

/**
 * logtally as of a commit of this repository's history, built in `dir`: the
 * programs a user runs before an upgrade. Takes a minute (npm ci and a
 * build); needs the history, so a checkout without it fails here, clearly.
 */
export function buildEarlierCommit(commit: string, dir: string): Programs {
  const known = spawnSync("git", ["-C", REPO_ROOT, "cat-file", "-e", `${commit}^{commit}`], { encoding: "utf8" });
  if (known.status !== 0) {
    throw new Error(`commit ${commit} is not in ${REPO_ROOT}'s history (${known.stderr.trim() || known.error?.message}): run the tests in a full git clone`);
  }
  fs.mkdirSync(dir, { recursive: true });
  const archive = path.join(dir, "source.tar");
  execFileSync("git", ["-C", REPO_ROOT, "archive", "--format=tar", "-o", archive, commit]);
  execFileSync("tar", ["-xf", archive, "-C", dir]);
  fs.rmSync(archive);
  const quiet: ExecFileSyncOptions = { cwd: dir, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1" } };
  execFileSync("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], quiet);
  execFileSync("npm", ["run", "build"], quiet);
  return programsIn(dir);
}

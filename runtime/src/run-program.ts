import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError } from "./flags";

/** The version in the package.json of a program whose compiled entry point is in `distDir` (its package's dist/). */
export function packageVersion(distDir: string): string {
  return (JSON.parse(fs.readFileSync(path.join(distDir, "..", "package.json"), "utf8")) as { version: string }).version;
}

/**
 * A program's entry point: prints `--version` (`name version`, exit 0), or
 * reads its configuration, printing `--help` (exit 0) or a ConfigError with a
 * hint (exit 2), then runs it; the exit code is what `run` returns. A failure
 * nobody caught is printed with its stack (exit 1): it is a defect, not a
 * user's mistake.
 */
export function runProgram<Config>(
  name: string,
  help: string,
  readConfig: () => Config | "help",
  run: (config: Config) => Promise<number>,
  { version }: { readonly version: string },
): void {
  if (process.argv.slice(2).includes("--version")) {
    process.stdout.write(`${name} ${version}\n`);
    return;
  }
  configured(name, help, readConfig, run).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${name}: fatal: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}

async function configured<Config>(name: string, help: string, readConfig: () => Config | "help", run: (config: Config) => Promise<number>): Promise<number> {
  let config: Config | "help";
  try {
    config = readConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${name}: ${error.message}\nTry --help.\n`);
    return 2;
  }
  if (config === "help") {
    process.stdout.write(help);
    return 0;
  }
  return run(config);
}

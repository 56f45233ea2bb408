import { ConfigError } from "./flags";

/**
 * A program's entry point: reads its configuration, printing `--help` (exit
 * 0) or a ConfigError with a hint (exit 2), then runs it; the exit code is
 * what `run` returns. A failure nobody caught is printed with its stack
 * (exit 1): it is a defect, not a user's mistake.
 */
export function runProgram<Config>(name: string, help: string, readConfig: () => Config | "help", run: (config: Config) => Promise<number>): void {
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

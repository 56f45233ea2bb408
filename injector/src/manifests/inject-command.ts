import * as fs from "node:fs/promises";
import { ConfigError, formatHelp, parseFlags, type FlagSpec } from "@logtally/runtime";
import { INJECTION_FLAGS, parseInjectionDefaults } from "../template/injection-flags";
import { injectManifests } from "./manifest-injection";
import { ManifestError } from "./manifest-stream";
import type { InjectionOptions } from "../template/sidecar-request";

export const INJECT_FLAGS = [
  {
    name: "all",
    switch: true,
    description: 'Inject every pod template that is not annotated logtally.io/inject: "false", not only those annotated "true".',
  },
  ...INJECTION_FLAGS,
] as const satisfies ReadonlyArray<FlagSpec>;

/** `inject --help` text. */
export const INJECT_HELP = formatHelp(
  "logtally-injector inject [options] [FILE | -]",
  "Reads Kubernetes manifests (multi-document YAML) from FILE, or from stdin when FILE is absent or -,\n" +
    "and writes them to stdout with the logtally sidecar added to every pod template annotated\n" +
    'logtally.io/inject: "true" (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, List).\n' +
    "Documents with nothing to inject (or whose templates already have the sidecar) come out byte for byte.\n" +
    "Pod template annotations: logtally.io/log-path (default /var/log/app/log.csv), logtally.io/source-id,\n" +
    "logtally.io/image, logtally.io/aggregator, logtally.io/token-secret (a Secret whose key `token` is mounted\n" +
    "read-only for the sidecar to present). Exits 1, writing nothing, on bad YAML or a template that\n" +
    "cannot be injected.",
  INJECT_FLAGS,
);

/** What `inject` is asked to do. */
export interface InjectConfig {
  readonly options: InjectionOptions;
  /** A file path, or "-" for stdin. */
  readonly input: string;
}

/** Parses `inject`'s flags > environment > defaults; "help" for --help. Throws ConfigError naming a bad flag. */
export function parseInjectConfig(argv: string[], env: NodeJS.ProcessEnv): InjectConfig | "help" {
  const parsed = parseFlags(INJECT_FLAGS, argv, env, { allowPositionals: true });
  if (parsed.help) return "help";
  const { values, labels, positionals } = parsed;
  if (positionals.length > 1) throw new ConfigError(`expected at most one FILE, got ${positionals.map((arg) => JSON.stringify(arg)).join(" ")}`);
  return Object.freeze({
    options: Object.freeze({ all: values.all === "true", ...parseInjectionDefaults(values, labels) }),
    input: positionals[0] ?? "-",
  });
}

/** Where `inject` reads and writes. */
export interface InjectStreams {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Runs `inject`: the whole input is read and injected before anything is
 * written, so a failure leaves stdout empty rather than half a stream that
 * `kubectl apply` would take. Resolves with the exit code: 0, or 1 with a
 * message on stderr.
 */
export async function runInject(config: InjectConfig, streams: InjectStreams): Promise<number> {
  const source = config.input === "-" ? "<stdin>" : config.input;
  let text: string;
  try {
    text = config.input === "-" ? await readAll(streams.stdin) : await fs.readFile(config.input, "utf8");
  } catch (error) {
    streams.stderr.write(`logtally-injector inject: cannot read ${source}: ${(error as Error).message}\n`);
    return 1;
  }
  let injected: string;
  try {
    injected = injectManifests(text, config.options);
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    streams.stderr.write(`logtally-injector inject: ${source}: ${error.message}\n`);
    return 1;
  }
  streams.stdout.write(injected);
  return 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

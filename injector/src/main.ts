#!/usr/bin/env node
// First: catches SIGTERM from the moment the process starts (see stop-signals.ts in @logtally/runtime).
import { ConfigError, firstStopSignal, formatHelp, packageVersion, releaseStopSignals, runProgram } from "@logtally/runtime";

/** `logtally-injector` with no command, or --help. */
const INJECTOR_HELP = formatHelp(
  "logtally-injector inject|webhook [options]",
  "Puts the logtally sidecar into Kubernetes pods:\n" +
    "  inject    adds it to the pod templates of manifests (a file or stdin to stdout), for kubectl apply or GitOps;\n" +
    "  webhook   a mutating admission webhook that adds it to pods as they are created.\n" +
    "`logtally-injector COMMAND --help` lists a command's options.",
  [],
);

/** What --version prints after the program's name. */
const VERSION = { version: packageVersion(__dirname) };

const [command, ...args] = process.argv.slice(2);
switch (command) {
  case "inject":
    // Nothing to drain: a signal ends the process at once.
    releaseStopSignals();
    void import("./manifests/inject-command.js").then(({ INJECT_HELP, parseInjectConfig, runInject }) =>
      runProgram(
        "logtally-injector inject",
        INJECT_HELP,
        () => parseInjectConfig(args, process.env),
        (config) => runInject(config, process),
        VERSION,
      ),
    );
    break;
  case "webhook":
    void import("./webhook/webhook-command.js").then(({ WEBHOOK_HELP, loadWebhookConfig, runWebhook }) =>
      runProgram(
        "logtally-injector webhook",
        WEBHOOK_HELP,
        () => loadWebhookConfig(args, process.env),
        (config) => runWebhook(config, firstStopSignal()),
        VERSION,
      ),
    );
    break;
  default:
    runProgram(
      "logtally-injector",
      INJECTOR_HELP,
      () => {
        if (command === undefined || command === "--help" || command === "-h") return "help";
        throw new ConfigError(`unknown command ${JSON.stringify(command)}: expected inject or webhook`);
      },
      async () => 0,
      VERSION,
    );
}

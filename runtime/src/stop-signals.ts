/**
 * Catches SIGTERM and SIGINT from the first moment of the process, before the
 * rest of the program has loaded: without it, a pod told to stop while the
 * sidecar starts up would die of the signal instead of draining. The
 * package index exports it first: import @logtally/runtime first in main.ts.
 */

type SignalListener = (signal: NodeJS.Signals) => void;

let received: NodeJS.Signals | undefined;
let listener: SignalListener | undefined;

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    received ??= signal;
    listener?.(received);
  });
}

/** Resolves with the first SIGTERM or SIGINT, including one received before this call. */
export function firstStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    if (received) resolve(received);
    else listener = resolve;
  });
}

/**
 * Gives SIGTERM and SIGINT their default action back (the process ends at
 * once), for commands that have nothing to drain.
 */
export function releaseStopSignals(): void {
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.removeAllListeners(signal);
}

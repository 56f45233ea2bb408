import { setFlagsFromString } from "node:v8";

/**
 * V8 tiering thresholds for code that runs a few times a second for hours.
 *
 * V8 optimizes a function with Maglev after some 400 calls, and waits 500
 * more after any of its inline caches changes: thresholds for code that runs
 * often. A sidecar ships, and an aggregator commits, a few batches a second
 * for as long as the pod lives, so with them the path every batch takes stays
 * in the baseline tier for many minutes, and each batch costs a third to a
 * half more CPU than it does optimized. With these, that path is optimized
 * within seconds. TurboFan's threshold is left as it is: optimizing with it this
 * early compiled more than it saved.
 */
export const EARLY_TIER_UP_FLAGS: readonly string[] = Object.freeze(["--invocation-count-for-maglev=20", "--minimum-invocations-after-ic-update=20"]);

/** Applies {@link EARLY_TIER_UP_FLAGS}; called first thing by the sidecar and the aggregator (node options would need every launcher to pass them). */
export function tierUpEarly(): void {
  for (const flag of EARLY_TIER_UP_FLAGS) setFlagsFromString(flag);
}

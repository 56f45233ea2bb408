import type { Parameters } from "fast-check";

/**
 * fast-check parameters for a property of the sidecar's specs: `numRuns`
 * runs from a fresh random seed. A failure reports its `{ seed, path }`; set
 * LOGTALLY_PROPERTY_SEED (and LOGTALLY_PROPERTY_PATH, to go straight to the
 * shrunk counterexample) to replay it.
 */
export function propertyRuns<T>(numRuns: number): Parameters<T> {
  const seed = process.env.LOGTALLY_PROPERTY_SEED;
  const path = process.env.LOGTALLY_PROPERTY_PATH;
  if (seed === undefined || seed === "") return { numRuns };
  const replay: Parameters<T> = { numRuns, seed: Number(seed) };
  if (Number.isNaN(replay.seed)) throw new Error(`LOGTALLY_PROPERTY_SEED must be a number, got ${JSON.stringify(seed)}`);
  return path === undefined || path === "" ? replay : { ...replay, path, endOnFailure: true };
}

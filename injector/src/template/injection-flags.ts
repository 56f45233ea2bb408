import { ConfigError, type FlagSpec } from "@logtally/runtime";
import { DEFAULT_AGGREGATOR_ADDRESS, DEFAULT_SIDECAR_IMAGE } from "./contract";
import { checkAggregatorAddress, checkImage, checkSecretName } from "./injection-values";
import type { InjectionDefaults } from "./sidecar-request";

/** Flags shared by `inject` and `webhook`: what a sidecar gets when its pod's annotations do not say. */
export const INJECTION_FLAGS = [
  {
    name: "image",
    env: "LOGTALLY_INJECT_IMAGE",
    default: DEFAULT_SIDECAR_IMAGE,
    description: "Image of the injected sidecar, unless a pod template's logtally.io/image annotation names another.",
  },
  {
    name: "aggregator",
    env: "LOGTALLY_INJECT_AGGREGATOR",
    default: DEFAULT_AGGREGATOR_ADDRESS,
    description: "host:port of the aggregator the injected sidecars ship to, unless logtally.io/aggregator says otherwise.",
  },
  {
    name: "token-secret",
    env: "LOGTALLY_INJECT_TOKEN_SECRET",
    description:
      "Secret (in each pod's namespace) whose key `token` the injected sidecars present to the aggregator, mounted read-only, " +
      "unless logtally.io/token-secret names another. Off unless set.",
  },
] as const satisfies ReadonlyArray<FlagSpec>;

type InjectionFlag = (typeof INJECTION_FLAGS)[number]["name"];

/** Checks the values of {@link INJECTION_FLAGS}; throws ConfigError naming a bad one. */
export function parseInjectionDefaults(
  values: Readonly<Record<InjectionFlag, string | undefined>>,
  labels: Readonly<Record<InjectionFlag, string>>,
): InjectionDefaults {
  const checked = (name: InjectionFlag, check: (label: string, value: string) => string | undefined): string => {
    const value = values[name]!;
    const problem = check(labels[name], value);
    if (problem) throw new ConfigError(problem);
    return value;
  };
  const tokenSecret = values["token-secret"] || undefined;
  const problem = tokenSecret === undefined ? undefined : checkSecretName(labels["token-secret"], tokenSecret);
  if (problem) throw new ConfigError(problem);
  return Object.freeze({ image: checked("image", checkImage), aggregator: checked("aggregator", checkAggregatorAddress), tokenSecret });
}

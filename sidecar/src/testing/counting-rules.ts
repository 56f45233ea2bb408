import { parseSidecarConfig, type SidecarConfig } from "../config";
import type { CountingRules } from "../parse/counting-rules";

/** The counting rules the sidecar would run with these flags (for tests). */
export function rulesOf(...argv: string[]): CountingRules {
  const config = parseSidecarConfig(argv, {});
  if (config === "help") throw new Error("asked for help");
  return (config as SidecarConfig).counting;
}

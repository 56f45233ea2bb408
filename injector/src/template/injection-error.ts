/**
 * A pod template that asks for the sidecar but cannot have it: an annotation
 * with a bad value, no containers, a volume that is not defined. The message
 * names the workload first (`Deployment/web: logtally.io/log-path must be an
 * absolute path`). The CLI exits 1 on it; the webhook admits the pod unchanged
 * and returns the message as a warning.
 */
export class InjectionError extends Error {
  override readonly name = "InjectionError";

  constructor(
    /** `Kind/name` of the object whose pod template was refused. */
    readonly workload: string,
    /** What is wrong, without the workload. */
    readonly problem: string,
  ) {
    super(`${workload}: ${problem}`);
  }
}

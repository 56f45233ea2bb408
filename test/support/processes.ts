import * as path from "node:path";
import { AGGREGATOR_MAIN, RunningProcess, SIDECAR_MAIN, type ProcessUser } from "@logtally/testing";

/** The programs of one build of logtally: this checkout's, or another's (an earlier commit, to compare). */
export interface Programs {
  readonly aggregatorMain: string;
  readonly sidecarMain: string;
}

/** This checkout's build. */
export const THIS_BUILD: Programs = { aggregatorMain: AGGREGATOR_MAIN, sidecarMain: SIDECAR_MAIN };

/** The build in another checkout of logtally (built with `npm run build` there). */
export function programsIn(checkout: string): Programs {
  return {
    aggregatorMain: path.resolve(checkout, "aggregator/dist/main.js"),
    sidecarMain: path.resolve(checkout, "sidecar/dist/main.js"),
  };
}

/** Starts a program with debug logs, so that tests can wait for what it logs. */
function start(name: string, main: string, args: string[], nodeArgs: readonly string[] = [], user?: ProcessUser): RunningProcess {
  return RunningProcess.start(name, main, args, { env: { ...process.env, LOGTALLY_LOG_LEVEL: "debug" }, nodeArgs, user });
}

/** A started aggregator and the ports it bound. */
export interface AggregatorProcess extends RunningProcess {
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly grpcAddress: string;
  readonly metricsUrl: string;
}

/** Starts an aggregator on `stateDir`; ports default to free ones; `extraArgs` come after the harness's own. */
export async function startAggregator(
  stateDir: string,
  {
    grpcPort = 0,
    metricsPort = 0,
    name = "aggregator",
    extraArgs = [],
    programs = THIS_BUILD,
    user,
  }: { grpcPort?: number; metricsPort?: number; name?: string; extraArgs?: string[]; programs?: Programs; user?: ProcessUser } = {},
): Promise<AggregatorProcess> {
  const running = start(
    name,
    programs.aggregatorMain,
    [
      "--grpc-listen",
      `127.0.0.1:${grpcPort}`,
      "--metrics-listen",
      `127.0.0.1:${metricsPort}`,
      "--state-dir",
      stateDir,
      "--shutdown-grace-ms",
      "1000",
      ...extraArgs,
    ],
    [],
    user,
  );
  const started = await running.waitForLog("aggregator started");
  const bound = { grpcPort: Number(started.grpcPort), metricsPort: Number(started.metricsPort) };
  return Object.assign(running, bound, {
    grpcAddress: `127.0.0.1:${bound.grpcPort}`,
    metricsUrl: `http://127.0.0.1:${bound.metricsPort}/metrics`,
  });
}

/** Starts a sidecar on `file`, shipping to `aggregator` (host:port) as `sourceId`. */
export function startSidecar(
  name: string,
  {
    file,
    aggregator,
    sourceId,
    extraArgs = [],
    nodeArgs = [],
    programs = THIS_BUILD,
  }: { file: string; aggregator: string; sourceId: string; extraArgs?: string[]; nodeArgs?: readonly string[]; programs?: Programs },
): RunningProcess {
  return start(
    name,
    programs.sidecarMain,
    [
      "--file",
      file,
      "--aggregator",
      aggregator,
      "--source-id",
      sourceId,
      "--sidecar-id",
      name,
      "--poll-interval-ms",
      "50",
      "--rotate-grace-ms",
      "200",
      ...extraArgs,
    ],
    nodeArgs,
  );
}

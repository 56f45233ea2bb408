import * as os from "node:os";

/** The machine a benchmark ran on, printed first: figures mean little without it. */
export interface MachineDescription {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly node: string;
  /** 1, 5 and 15 minute load averages when the benchmark started: other work skews figures. */
  readonly loadAverage: readonly number[];
  readonly startedAt: string;
}

/** Describes this machine now. */
export function describeMachine(): MachineDescription {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
    startedAt: new Date().toISOString(),
  };
}

/** The description as a few lines of text. */
export function formatMachine(machine: MachineDescription): string {
  return [
    `cpu      ${machine.cpuModel}, ${machine.cores} cores`,
    `memory   ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    `kernel   ${machine.kernel}`,
    `node     ${machine.node}`,
    `load     ${machine.loadAverage.join(" ")} (1, 5, 15 min) at ${machine.startedAt}`,
  ].join("\n");
}

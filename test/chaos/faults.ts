import * as fs from "node:fs";
import * as path from "node:path";
import { isRunning, type AggregatorSlot } from "./chaos-aggregators";
import { HEADER, pause, type ChaosSource, type ChaosWorld, type SidecarSlot } from "./world";
import { faultsOf, type FaultKind } from "./fault-kinds";
import { AGGREGATOR_MAIN, programEnv, RunningProcess } from "@logtally/testing";
import { QueryProbe } from "../support/query";

type Fault = (world: ChaosWorld) => Promise<void>;

const pick = <T>(world: ChaosWorld, values: readonly T[]): T => values[Math.floor(world.random() * values.length)]!;
const between = (world: ChaosWorld, minMs: number, maxMs: number): number => minMs + Math.floor(world.random() * (maxMs - minMs));
const source = (world: ChaosWorld, id: string): ChaosSource => world.sources.find((candidate) => candidate.id === id)!;
const anySource = (world: ChaosWorld): ChaosSource => pick(world, world.sources);
/** A source rotated by renaming: a plain file, not a symbolic link. */
const renamedSource = (world: ChaosWorld): ChaosSource =>
  pick(
    world,
    world.sources.filter((candidate) => !candidate.linkTargets),
  );
/** The aggregator, or a random replica (drawing nothing when there is one, so SQLite scenarios replay as before). */
const anyAggregator = (world: ChaosWorld): AggregatorSlot =>
  world.aggregators.slots.length === 1 ? world.aggregators.slots[0]! : pick(world, world.aggregators.slots);
const runningSlots = (world: ChaosWorld): Array<[ChaosSource, SidecarSlot]> =>
  world.sources.flatMap((candidate) => candidate.slots.filter((slot) => slot.process).map((slot): [ChaosSource, SidecarSlot] => [candidate, slot]));

async function killAndRestart(world: ChaosWorld, target: ChaosSource, slot: SidecarSlot, downMs: number): Promise<void> {
  await world.stopSidecar(slot, "SIGKILL");
  await pause(downMs);
  world.startSidecar(target, slot);
}

/** Renames file.N → file.N+1 … file → file.1 and creates a new empty file, as logrotate does. */
function rotate(target: ChaosSource): void {
  target.writer.rotate(5);
}

/** How each kind is injected (see fault-kinds.ts); each leaves the world as healed as it found it. */
const FAULTS: Record<FaultKind, Fault> = {
  async kill_sidecar(world) {
    const slots = runningSlots(world);
    if (slots.length === 0) return;
    const [target, slot] = pick(world, slots);
    await killAndRestart(world, target, slot, between(world, 0, 800));
  },
  async kill_sidecar_reconnecting(world) {
    // Break every stream, then kill a sidecar while it reconnects and resumes.
    const slots = runningSlots(world);
    if (slots.length === 0) return;
    const [target, slot] = pick(world, slots);
    for (const proxy of world.aggregators.networkFaultProxies()) proxy.dropAll();
    await pause(between(world, 0, 300));
    await killAndRestart(world, target, slot, between(world, 0, 500));
  },
  async second_aggregator(world) {
    // A second copy on the live state (a rolling update on a shared volume, a
    // copy started by hand) must be refused while the first goes on counting.
    const second = RunningProcess.start(
      "aggregator-second",
      AGGREGATOR_MAIN,
      ["--state-dir", world.stateDir, "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
      { env: programEnv() },
    );
    const exit = await second.exited;
    if (exit.code === 0 || !second.logs.some((line) => String(line.msg).includes("is in use by another aggregator"))) {
      throw new Error(`a second aggregator on the live state was not refused (${exit.code ?? exit.signal})\n${second.dump()}`);
    }
  },
  async empty_database(world) {
    // The state restored as an empty file (a failed restore): refused, never
    // taken for a fresh start; once the real one is back, counting resumes.
    const aggregator = world.aggregators.slots[0]!;
    await world.aggregators.stop(aggregator, "SIGKILL");
    const database = path.join(world.stateDir, "logtally.db");
    const aside = `${database}.aside`;
    fs.renameSync(database, aside);
    fs.writeFileSync(database, "");
    const refused = RunningProcess.start(
      "aggregator-empty-state",
      AGGREGATOR_MAIN,
      ["--state-dir", world.stateDir, "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
      { env: programEnv() },
    );
    const exit = await refused.exited;
    if (exit.code === 0 || !refused.logs.some((line) => String(line.msg).includes("is empty (0 bytes)"))) {
      throw new Error(`an empty state database was not refused (${exit.code ?? exit.signal})\n${refused.dump()}`);
    }
    fs.renameSync(aside, database);
    await world.aggregators.restart(aggregator);
  },
  async kill_aggregator(world) {
    const aggregator = anyAggregator(world);
    await world.aggregators.stop(aggregator, "SIGKILL");
    await pause(between(world, 0, 1000));
    await world.aggregators.restart(aggregator);
  },
  async stop_aggregator(world) {
    const aggregator = anyAggregator(world);
    // One that already exited unasked is on record (ProcessRecord): only a running one's exit tells how it took SIGTERM.
    const wasRunning = aggregator.process !== undefined && isRunning(aggregator.process);
    const exit = await world.aggregators.stop(aggregator, "SIGTERM");
    if (wasRunning && exit.code !== 0) throw new Error(`${aggregator.name} exited with ${exit.code ?? exit.signal} on SIGTERM`);
    await pause(between(world, 0, 500));
    await world.aggregators.restart(aggregator);
  },
  async kill_replica(world) {
    // Down long enough for its sidecars to move to the other replicas through
    // the Service and go on counting there; back on the same ports.
    const replica = anyAggregator(world);
    await world.aggregators.stop(replica, "SIGKILL");
    await pause(between(world, 1000, 5000));
    await world.aggregators.restart(replica);
  },
  async postgres_restart(world) {
    // A crash: transactions in flight are lost or committed, never half-done;
    // the replicas are not ready until the server is back.
    await world.aggregators.database!.crash();
    await pause(between(world, 300, 3000));
    await world.aggregators.database!.restart();
  },
  async database_cut(world) {
    // A commit whose connection breaks may or may not have committed: the
    // sidecar resends, and the byte range is applied once either way.
    world.aggregators.database!.proxy.dropAll();
  },
  async database_stall(world) {
    world.aggregators.database!.proxy.setMode({ kind: "stall" });
    await pause(between(world, 300, 3000));
    world.aggregators.database!.proxy.setMode({ kind: "pass" });
  },
  async network_drop(world) {
    for (const proxy of world.aggregators.networkFaultProxies()) proxy.dropAll();
  },
  async network_stall(world) {
    const proxies = world.aggregators.networkFaultProxies();
    for (const proxy of proxies) proxy.setMode({ kind: "stall" });
    await pause(between(world, 300, 3000));
    for (const proxy of proxies) proxy.setMode({ kind: "pass" });
  },
  async network_delay_acks(world) {
    // Past the sidecars' 1.5 s ack timeout: they give up, reconnect and resend.
    const proxies = world.aggregators.networkFaultProxies();
    const delayMs = between(world, 1600, 3000);
    for (const proxy of proxies) proxy.setMode({ kind: "delay", delayMs });
    await pause(between(world, 1000, 4000));
    for (const proxy of proxies) proxy.setMode({ kind: "pass" });
  },
  async network_cut_mid_message(world) {
    await Promise.race([Promise.all(world.aggregators.networkFaultProxies().map((proxy) => proxy.cutMidMessage())), pause(3000)]);
  },
  async network_refuse(world) {
    const proxies = world.aggregators.networkFaultProxies();
    for (const proxy of proxies) {
      proxy.setMode({ kind: "refuse" });
      proxy.dropAll();
    }
    await pause(between(world, 200, 2000));
    for (const proxy of proxies) proxy.setMode({ kind: "pass" });
  },
  async rotate(world) {
    const target = renamedSource(world);
    await world.whileWriterPaused(target, () => rotate(target));
  },
  async rotate_twice(world) {
    const target = renamedSource(world);
    await world.whileWriterPaused(target, () => {
      rotate(target);
      target.writer.append(between(world, 1, 50));
      rotate(target);
    });
  },
  async rotate_while_down(world) {
    const target = pick(
      world,
      world.sources.filter((candidate) => candidate.slots.length === 1 && !candidate.linkTargets),
    );
    const slot = target.slots[0]!;
    await world.stopSidecar(slot, "SIGKILL");
    await pause(between(world, 100, 500));
    await world.whileWriterPaused(target, () => {
      target.writer.append(between(world, 1, 100));
      rotate(target);
      target.writer.append(between(world, 1, 100));
      if (world.random() < 0.5) rotate(target);
    });
    await pause(between(world, 0, 500));
    world.startSidecar(target, slot);
  },
  async relink(world) {
    // A container restarted: Kubernetes points the log's link at a new file
    // and leaves the old one, whose last rows may not be read yet. (A file the
    // link led to only in between, never seen by a sidecar, none could know
    // of: the file before is counted first, then rows flow again.)
    const target = source(world, "linked");
    await world.whileSettled(target, () => undefined);
    await pause(between(world, 50, 500));
    await world.whileWriterPaused(target, () => world.pointLinkAtNewFile(target));
  },
  async relink_while_down(world) {
    // The same while the sidecar is down, rows written to the old file first:
    // the restarted sidecar finishes the file the aggregator last saw.
    const target = source(world, "linked");
    const slot = target.slots[0]!;
    await world.whileSettled(target, () => undefined);
    await world.stopSidecar(slot, "SIGKILL");
    await pause(between(world, 100, 500));
    await world.whileWriterPaused(target, () => {
      target.writer.append(between(world, 1, 100));
      world.pointLinkAtNewFile(target);
      target.writer.append(between(world, 1, 100));
    });
    await pause(between(world, 0, 500));
    world.startSidecar(target, slot);
  },
  async delete_recreate(world) {
    const target = renamedSource(world);
    await world.whileSettled(target, () => {
      fs.unlinkSync(target.writer.file);
      fs.writeFileSync(target.writer.file, HEADER);
    });
  },
  async truncate(world) {
    const target = anySource(world);
    await world.whileSettled(target, () => fs.truncateSync(target.writer.file, 0));
  },
  async truncate_regrow(world) {
    const target = anySource(world);
    await world.whileSettled(target, () => {
      const sizeBefore = fs.statSync(target.writer.file).size;
      fs.truncateSync(target.writer.file, 0);
      fs.appendFileSync(target.writer.file, HEADER);
      while (fs.statSync(target.writer.file).size <= sizeBefore) target.writer.append(200, { junkRatio: 0 });
    });
  },
  async shared_kill_one(world) {
    const shared = source(world, "shared");
    const slot = pick(
      world,
      shared.slots.filter((candidate) => candidate.process),
    );
    if (slot) await killAndRestart(world, shared, slot, between(world, 0, 1500));
  },
  async shared_restart_one(world) {
    const shared = source(world, "shared");
    const slot = pick(world, shared.slots);
    if (slot.process) await world.stopSidecar(slot, "SIGTERM");
    await pause(between(world, 0, 500));
    world.startSidecar(shared, slot);
  },
  async shared_restart_both(world) {
    const shared = source(world, "shared");
    await Promise.all(shared.slots.map((slot) => world.stopSidecar(slot, world.random() < 0.5 ? "SIGKILL" : "SIGTERM")));
    await pause(between(world, 0, 800));
    for (const slot of shared.slots) world.startSidecar(shared, slot);
  },
  async shared_join_late(world) {
    const shared = source(world, "shared");
    const late = shared.slots[1]!;
    if (late.process) await world.stopSidecar(late, "SIGKILL");
    await pause(between(world, 500, 2000));
    world.startSidecar(shared, late);
  },
  async sigterm_drain(world) {
    // A pod scaled down while its app still writes: everything up to the last
    // newline at the moment of SIGTERM must be committed when the sidecar exits.
    const candidates = runningSlots(world).filter(([candidate]) => candidate.slots.length === 1);
    if (candidates.length === 0) return;
    const [target, slot] = pick(world, candidates);
    const content = fs.readFileSync(target.writer.file);
    const mustBeCommitted = content.lastIndexOf(10) + 1;
    const exit = await world.stopSidecar(slot, "SIGTERM");
    if (exit.code !== 0) throw new Error(`${slot.name} exited with ${exit.code} on SIGTERM`);
    const probe = new QueryProbe(world.proxyBypassAddress());
    try {
      const committedOffset = async () => Number((await probe.listSources()).find((candidate) => candidate.sourceId === target.id)?.committedOffset ?? 0);
      let committed = await committedOffset();
      // A replica's Query answers from its view, which catches up with the other replicas' commits within a second.
      const deadline = Date.now() + (world.store.kind === "postgres" ? 5000 : 0);
      while (committed < mustBeCommitted && Date.now() < deadline) {
        await pause(100);
        committed = await committedOffset();
      }
      if (committed < mustBeCommitted) {
        throw new Error(`${slot.name} exited after SIGTERM with ${target.id} committed at ${committed}, before ${mustBeCommitted}`);
      }
    } finally {
      probe.close();
    }
    await pause(between(world, 0, 500));
    world.startSidecar(target, slot);
  },
  async copytruncate(world) {
    // logrotate's copytruncate: copy the file aside, then truncate it in place,
    // while the application keeps writing. Rows written between the two may
    // be lost. The application writes whole lines here: a line split across
    // writes that straddled the truncation would leave a fragment behind.
    // Rows the sidecar had not read by the truncation are counted from the
    // copy: only the window's rows, which this fault knows, may go missing.
    const target = renamedSource(world);
    const file = target.writer.file;
    await world.whileWriterPaused(target, async () => {
      for (let n = 4; n >= 1; n--) if (fs.existsSync(`${file}.${n}`)) fs.renameSync(`${file}.${n}`, `${file}.${n + 1}`);
      fs.copyFileSync(file, `${file}.1`);
      const windowRows = between(world, 0, 100);
      target.writer.append(windowRows, { junkRatio: 0 });
      world.rowsInCopytruncateWindows += windowRows;
      fs.truncateSync(file, 0);
    });
  },
};

/** Injects one fault; throws if the world's store cannot run it. */
export function inject(world: ChaosWorld, kind: FaultKind): Promise<void> {
  if (!faultsOf(world.store.kind).includes(kind)) throw new Error(`${kind} cannot run on the ${world.store.kind} store`);
  return FAULTS[kind](world);
}

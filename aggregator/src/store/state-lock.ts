import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Next to the database: who holds the state, for the message a second aggregator prints. Informational only. */
export const HOLDER_FILE = "logtally.holder";

/** Who holds a state directory. */
export interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly sinceMs: number;
}

/**
 * Records this process as the holder of `stateDir`. The lock itself is
 * SQLite's exclusive locking of the database, which lasts as long as the
 * process; this file only names the holder.
 */
export function recordHolder(stateDir: string): void {
  const holder: Holder = { pid: process.pid, host: os.hostname(), sinceMs: Date.now() };
  try {
    fs.writeFileSync(path.join(stateDir, HOLDER_FILE), `${JSON.stringify(holder)}\n`);
  } catch {
    // Naming the holder is a courtesy: the lock holds without it.
  }
}

/** Describes the recorded holder of `stateDir`, or "another process" when none is recorded. */
export function describeHolder(stateDir: string): string {
  const holder = readHolder(stateDir);
  return holder ? `another aggregator (pid ${holder.pid} on ${holder.host}, since ${new Date(holder.sinceMs).toISOString()})` : "another process";
}

/** Forgets this process as the holder of `stateDir`, unless another has recorded itself since. */
export function forgetHolder(stateDir: string): void {
  const holder = readHolder(stateDir);
  if (holder?.pid !== process.pid || holder.host !== os.hostname()) return;
  try {
    fs.unlinkSync(path.join(stateDir, HOLDER_FILE));
  } catch {
    // Already gone.
  }
}

/** The recorded holder of `stateDir`; undefined when none is recorded, or the record is damaged. */
function readHolder(stateDir: string): Holder | undefined {
  try {
    const holder = JSON.parse(fs.readFileSync(path.join(stateDir, HOLDER_FILE), "utf8")) as Partial<Holder>;
    if (typeof holder.pid === "number" && typeof holder.host === "string" && typeof holder.sinceMs === "number") return holder as Holder;
  } catch {
    // No record, or a damaged one.
  }
  return undefined;
}

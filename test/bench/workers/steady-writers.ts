import * as fs from "node:fs";
import { RowCycle } from "../data-file";
import { runWorker } from "../worker-process";

/** What the writers are told when forked. */
export interface SteadyWritersInit {
  readonly files: readonly string[];
  /** Rows appended to each file per second. */
  readonly rowsPerSecond: number;
  /** Rows per write(2), as an application logging a few lines at a time. */
  readonly rowsPerWrite: number;
  readonly pairs: number;
}

/** What the parent sends: begin (after `ready`), then stop (after which `stopped` reports what was written). */
export type SteadyWritersCommand = { readonly type: "go" } | { readonly type: "stop" };

/** What the writers report. */
export type SteadyWritersMessage = { readonly type: "ready" } | { readonly type: "stopped"; readonly rowsByFile: readonly number[] };

const TICK_MS = 10;

/**
 * Applications writing steadily: every file gets `rowsPerSecond` rows a
 * second, `rowsPerWrite` rows per write(2), each write whole lines (O_APPEND),
 * from one process so their CPU is nobody's under measurement.
 */
runWorker<SteadyWritersInit, SteadyWritersMessage>(async (init, post) => {
  const writers = init.files.map((file, index) => ({ fd: fs.openSync(file, "a"), cycle: new RowCycle(init.pairs, index + 1), written: 0 }));
  let stopping = false;
  await new Promise<void>((resolve) => {
    process.on("message", (command: SteadyWritersCommand) => {
      if (command.type === "go") resolve();
      else stopping = true;
    });
    post({ type: "ready" });
  });
  const startMs = performance.now();
  while (!stopping) {
    const due = Math.floor(((performance.now() - startMs) / 1000) * init.rowsPerSecond);
    for (const writer of writers) {
      while (due - writer.written >= init.rowsPerWrite) {
        const bytes = writer.cycle.take(init.rowsPerWrite);
        for (let at = 0; at < bytes.length; ) at += fs.writeSync(writer.fd, bytes, at);
        writer.written += init.rowsPerWrite;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  for (const writer of writers) fs.closeSync(writer.fd);
  post({ type: "stopped", rowsByFile: writers.map((writer) => writer.written) });
});

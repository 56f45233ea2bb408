import pino, { type Logger } from "pino";

export type { Logger };

/** A JSON logger on stderr, one line per event: a fixed message plus fields. */
export function createLogger(service: string, level: string): Logger {
  return pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
}

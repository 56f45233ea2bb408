import * as fs from "node:fs";
import { seededRandom } from "@logtally/testing";

const JUNK_LINES = ["", "only-one-field", ",backup", "server9,", '"unbalanced,job', "   ", "\u0001ctrl,job"];

/**
 * Appends rows to a log file the way an application would, and keeps the
 * ground truth: how many rows of each (host, job_name) pair it wrote. Junk
 * lines (blank, malformed) are mixed in and are not part of the truth.
 */
export class LogWriter {
  /** "host|job_name" → rows written. */
  readonly truth = new Map<string, number>();
  rowsWritten = 0;
  private readonly random: () => number;

  constructor(
    readonly file: string,
    seed: number,
    private readonly hosts = ["server1", "server2", "db-1", "web-01", "東京-1"],
    private readonly jobs = ["backup", "cron daily", "report,weekly", "vacuum"],
  ) {
    this.random = seededRandom(seed);
  }

  /** Appends `rows` rows (with roughly `junkRatio` junk lines among them), split into random write sizes. */
  append(rows: number, { junkRatio = 0.05, header = false }: { junkRatio?: number; header?: boolean } = {}): void {
    let text = header ? "host,job_name\n" : "";
    for (let i = 0; i < rows; i++) {
      if (this.random() < junkRatio) text += `${JUNK_LINES[Math.floor(this.random() * JUNK_LINES.length)]}\n`;
      const host = this.pick(this.hosts);
      const job = this.pick(this.jobs);
      text += `${this.format(host)},${this.format(job)}${this.random() < 0.1 ? "\r" : ""}\n`;
      this.count(host, job);
    }
    this.write(text);
  }

  /**
   * Writes the first part of one row and returns the function that writes the
   * rest: until then the file ends with a partial line, which must not count.
   */
  beginRow(): () => void {
    const host = this.pick(this.hosts);
    const job = this.pick(this.jobs);
    const text = `${this.format(host)},${this.format(job)}\n`;
    const cut = 1 + Math.floor(this.random() * (text.length - 2));
    fs.appendFileSync(this.file, text.slice(0, cut));
    return () => {
      fs.appendFileSync(this.file, text.slice(cut));
      this.count(host, job);
    };
  }

  /** Writes raw text (the caller accounts for it in the truth, if it holds rows). */
  write(text: string): void {
    appendInPieces(this.file, text, this.random);
  }

  /** Adds a pair to the truth without writing (for rows written by hand). */
  count(host: string, job: string, rows = 1): void {
    const key = `${host}|${job}`;
    this.truth.set(key, (this.truth.get(key) ?? 0) + rows);
    this.rowsWritten += rows;
  }

  /** Rename rotation as logrotate does it: file.N → file.N+1, …, file → file.1; a new empty file. */
  rotate(keep = 5): void {
    for (let n = keep - 1; n >= 1; n--) {
      if (fs.existsSync(`${this.file}.${n}`)) fs.renameSync(`${this.file}.${n}`, `${this.file}.${n + 1}`);
    }
    fs.renameSync(this.file, `${this.file}.1`);
    fs.writeFileSync(this.file, "");
  }

  private pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.random() * values.length)]!;
  }

  private format(value: string): string {
    if (value.includes(",")) return `"${value}"`;
    return this.random() < 0.2 ? ` ${value} ` : value;
  }
}

/** Size of a file in bytes. */
export function fileSize(file: string): number {
  return fs.statSync(file).size;
}

/** Points symbolic link `link` at `target` in one rename, as Kubernetes re-points a container's log link. */
export function pointLink(link: string, target: string): void {
  fs.symlinkSync(target, `${link}.new`);
  fs.renameSync(`${link}.new`, link);
}

/** Appends `text` to `file` in several writes with random cut points, as an application's buffered writes split lines. */
export function appendInPieces(file: string, text: string, random: () => number): void {
  const bytes = Buffer.from(text, "utf8");
  let at = 0;
  while (at < bytes.length) {
    const size = Math.min(bytes.length - at, 1 + Math.floor(random() * 4096));
    fs.appendFileSync(file, bytes.subarray(at, at + size));
    at += size;
  }
}

import * as fs from "node:fs";
import type { FigureOutcome, Measurement, Unit } from "./figure";
import type { MachineDescription } from "./machine";
import { median } from "./stats";

/** A figure as reported: its outcome, or the error that stopped it. */
export interface FigureReport {
  readonly id: string;
  readonly title: string;
  readonly reproduce: string;
  readonly outcome?: FigureOutcome;
  readonly error?: string;
  readonly seconds: number;
}

/** Formats a value in its unit, compactly: `1.84 M rows/s`, `12.3 ms`, `8.5×`. */
export function formatValue(value: number, unit: Unit): string {
  const bare = formatBare(value, unit);
  if (!Number.isFinite(value)) return bare;
  switch (unit) {
    case "rows/s":
    case "batches/s":
      return `${bare.replace(/([kM])$/, " $1")} ${unit}`;
    case "ratio":
      return `${bare}×`;
    default:
      return `${bare} ${unit}`;
  }
}

/** The number alone, as in the runs column: `1.84M`, `12.3`, `8.5`. */
export function formatBare(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return "–";
  switch (unit) {
    case "rows/s":
    case "batches/s":
      if (value >= 1e8) return `${(value / 1e6).toFixed(0)}M`;
      if (value >= 1e7) return `${(value / 1e6).toFixed(1)}M`;
      if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
      if (value >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
      if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
      return value.toFixed(0);
    case "MB":
      return (value / 1e6).toFixed(1);
    default:
      return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
  }
}

/** The median of a measurement and its verdict against its target, if it has one. */
export function summarize(measurement: Measurement): { median: number; verdict: "PASS" | "MISS" | "" } {
  const value = median(measurement.values);
  if (!measurement.target) return { median: value, verdict: "" };
  return { median: value, verdict: measurement.target.met(value) ? "PASS" : "MISS" };
}

/** The results table: per figure a title line, one line per measurement, notes, and the command to reproduce it. */
export function formatTable(reports: readonly FigureReport[], runs: number): string {
  const rows: string[][] = [];
  const header = ["measure", `median of ${runs}`, "runs", "target", ""];
  const blocks: Array<{ title: string; lines: string[][]; after: string[] }> = [];
  for (const report of reports) {
    const lines: string[][] = [];
    const after: string[] = [];
    if (report.error) {
      after.push(`ERROR: ${report.error.split("\n")[0]}`);
    } else {
      for (const measurement of report.outcome!.measurements) {
        const { median: value, verdict } = summarize(measurement);
        lines.push([
          measurement.label,
          formatValue(value, measurement.unit),
          measurement.values.map((run) => formatBare(run, measurement.unit)).join(" "),
          measurement.target?.text ?? "",
          verdict,
        ]);
      }
      for (const note of report.outcome!.notes) after.push(`note: ${note}`);
    }
    after.push(`reproduce: ${report.reproduce}   (took ${report.seconds.toFixed(0)} s)`);
    rows.push(...lines);
    blocks.push({ title: `${report.title}`, lines, after });
  }
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)));
  const format = (row: readonly string[]): string =>
    "  " +
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  const out = [format(header), `  ${widths.map((width) => "-".repeat(width)).join("  ")}`];
  for (const block of blocks) {
    out.push("", block.title);
    for (const line of block.lines) out.push(format(line));
    for (const line of block.after) out.push(`    ${line}`);
  }
  return out.join("\n");
}

/** Writes every figure's per-run values, medians and verdicts as JSON. */
export function writeJson(
  file: string,
  { machine, options, reports }: { machine: MachineDescription; options: Record<string, unknown>; reports: readonly FigureReport[] },
): void {
  const figures = reports.map((report) => ({
    id: report.id,
    title: report.title,
    reproduce: report.reproduce,
    seconds: report.seconds,
    ...(report.error
      ? { error: report.error }
      : {
          notes: report.outcome!.notes,
          measurements: report.outcome!.measurements.map((measurement) => {
            const { median: value, verdict } = summarize(measurement);
            return {
              label: measurement.label,
              unit: measurement.unit,
              values: measurement.values,
              median: value,
              ...(measurement.target ? { target: measurement.target.text, verdict } : {}),
            };
          }),
        }),
  }));
  fs.writeFileSync(file, `${JSON.stringify({ machine, options, figures }, null, 2)}\n`);
}

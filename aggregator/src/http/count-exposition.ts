import type { PairCount } from "../store/count-view";

/** Metric name and help kept from the exporter logtally replaces, so existing queries keep working. */
export const COUNT_METRIC_NAME = "log_host_job_count";
export const COUNT_METRIC_HELP = "Count of occurrences of host and job name in log";

/** Longest decimal of a count (2^53 has 16 digits). */
const MAX_COUNT_DIGITS = 16;

const HEADER = Buffer.from(`# HELP ${COUNT_METRIC_NAME} ${COUNT_METRIC_HELP}\n# TYPE ${COUNT_METRIC_NAME} gauge\n`);

/**
 * Renders `log_host_job_count` in the Prometheus text format, as bytes. A
 * general metrics library hashes and escapes every label set on every scrape;
 * with 100,000 series that takes longer than a scrape should. Here each
 * series' `name{labels} ` prefix is escaped and encoded once, the first time
 * it is rendered, and a scrape copies prefixes and writes the current counts
 * into one buffer: no string per series, no join, no re-encoding.
 */
export class CountExposition {
  private readonly prefixes = new WeakMap<Readonly<PairCount>, Buffer>();

  render(counts: Iterable<Readonly<PairCount>>): Buffer {
    const series: Array<[Buffer, number]> = [];
    let bound = HEADER.length;
    for (const pair of counts) {
      let prefix = this.prefixes.get(pair);
      if (prefix === undefined) {
        prefix = Buffer.from(`${COUNT_METRIC_NAME}{host="${escapeLabelValue(pair.host)}",job_name="${escapeLabelValue(pair.jobName)}"} `);
        this.prefixes.set(pair, prefix);
      }
      series.push([prefix, pair.count]);
      bound += prefix.length + MAX_COUNT_DIGITS + 1;
    }
    const body = Buffer.allocUnsafe(bound);
    let offset = HEADER.copy(body, 0);
    for (const [prefix, count] of series) {
      offset += prefix.copy(body, offset);
      offset = writeDecimal(body, offset, count);
      body[offset++] = 0x0a;
    }
    return body.subarray(0, offset);
  }
}

/** Writes a non-negative safe integer in decimal at `offset`; returns the offset after it. */
function writeDecimal(buffer: Buffer, offset: number, value: number): number {
  if (value < 10) {
    buffer[offset] = 0x30 + value;
    return offset + 1;
  }
  let digits = 0;
  for (let rest = value; rest >= 1; rest = Math.floor(rest / 10)) digits++;
  for (let index = offset + digits - 1, rest = value; index >= offset; index--, rest = Math.floor(rest / 10)) {
    buffer[index] = 0x30 + (rest % 10);
  }
  return offset + digits;
}

/** Escapes a label value as the text format requires: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : value;
}

import type { PairCount } from "../store/count-view";

/** Metric name and help kept from the exporter logtally replaces, so existing queries keep working. */
export const COUNT_METRIC_NAME = "log_host_job_count";
export const COUNT_METRIC_HELP = "Count of occurrences of host and job name in log";

const HEADER = `# HELP ${COUNT_METRIC_NAME} ${COUNT_METRIC_HELP}\n# TYPE ${COUNT_METRIC_NAME} gauge\n`;

/**
 * Renders `log_host_job_count` in the Prometheus text format, as bytes. A
 * general metrics library hashes and escapes every label set on every scrape;
 * with 100,000 series that takes longer than a scrape should. Here each
 * series' `name{labels} ` prefix is escaped once, the first time it is
 * rendered, and a scrape appends prefixes and counts to one string, which V8
 * keeps as a rope until it is encoded once: no per-series buffer, no join.
 */
export class CountExposition {
  /**
   * By the view's pair objects, which live as long as the state (a pair is
   * never forgotten). A Map: looking 100,000 objects up in a WeakMap takes
   * twice as long.
   */
  private readonly prefixes = new Map<Readonly<PairCount>, string>();

  render(counts: Iterable<Readonly<PairCount>>): Buffer {
    let text = HEADER;
    for (const pair of counts) text += `${this.prefixOf(pair)}${pair.count}\n`;
    return Buffer.from(text);
  }

  /**
   * Escapes the prefixes of pairs not rendered yet, as they are first
   * counted: otherwise the first scrape after a start, or after many new
   * pairs, would pay for all of them at once.
   */
  prepare(counts: Iterable<Readonly<PairCount>>): void {
    for (const pair of counts) this.prefixOf(pair);
  }

  private prefixOf(pair: Readonly<PairCount>): string {
    let prefix = this.prefixes.get(pair);
    if (prefix === undefined) {
      prefix = `${COUNT_METRIC_NAME}{host="${escapeLabelValue(pair.host)}",job_name="${escapeLabelValue(pair.jobName)}"} `;
      this.prefixes.set(pair, prefix);
    }
    return prefix;
  }
}

/** Escapes a label value as the text format requires: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : value;
}

import type { PairCount } from "./store";

/** Metric name and help kept from the exporter logtally replaces, so existing queries keep working. */
export const COUNT_METRIC_NAME = "log_host_job_count";
export const COUNT_METRIC_HELP = "Count of occurrences of host and job name in log";

/**
 * Renders `log_host_job_count` in the Prometheus text format. A general
 * metrics library hashes and escapes every label set on every scrape; with
 * 100,000 series that takes longer than a scrape should. Here each series'
 * `name{labels} ` prefix is escaped once, the first time it is rendered, and a
 * scrape only joins prefixes and current counts.
 */
export class CountExposition {
  private readonly prefixes = new WeakMap<Readonly<PairCount>, string>();

  render(counts: Iterable<Readonly<PairCount>>): string {
    const lines = [`# HELP ${COUNT_METRIC_NAME} ${COUNT_METRIC_HELP}`, `# TYPE ${COUNT_METRIC_NAME} gauge`];
    for (const pair of counts) {
      let prefix = this.prefixes.get(pair);
      if (prefix === undefined) {
        prefix = `${COUNT_METRIC_NAME}{host="${escapeLabelValue(pair.host)}",job_name="${escapeLabelValue(pair.jobName)}"} `;
        this.prefixes.set(pair, prefix);
      }
      lines.push(prefix + pair.count);
    }
    return lines.join("\n") + "\n";
  }
}

/** Escapes a label value as the text format requires: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : value;
}

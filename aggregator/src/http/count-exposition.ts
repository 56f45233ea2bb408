import { DEFAULT_METRIC, exposedName } from "@logtally/proto";
import type { MetricDefinition } from "../ingest/metric-registration";
import type { MetricCounts, SeriesCount } from "../store/count-view";

/** Metric name and help kept from the exporter logtally replaces, so existing queries keep working. */
export const COUNT_METRIC_NAME = DEFAULT_METRIC;
export const COUNT_METRIC_HELP = "Count of occurrences of host and job name in log";

/** How one metric is written: its HELP and TYPE lines, and each label's `name="` opening. */
interface Family {
  readonly header: string;
  readonly sampleName: string;
  readonly labelOpenings: readonly string[];
}

/**
 * Renders the counted metrics in the Prometheus text format, as bytes:
 * `log_host_job_count` as the gauge it always was, with its help, and every
 * other metric as a counter named `metric_total`. A general metrics library
 * hashes and escapes every label set on every scrape; with 100,000 series
 * that takes longer than a scrape should. Here each series' `name{labels} `
 * prefix is escaped once, the first time it is rendered, and a scrape appends
 * prefixes and counts to one string, which V8 keeps as a rope until it is
 * encoded once: no per-series buffer, no join.
 */
export class CountExposition {
  /**
   * By the view's series objects, which live as long as the state (a series
   * is never forgotten). A Map: looking 100,000 objects up in a WeakMap takes
   * twice as long.
   */
  private readonly prefixes = new Map<Readonly<SeriesCount>, string>();
  /** By metric name; a definition never changes. */
  private readonly families = new Map<string, Family>();

  /** Every metric of `metrics`, in their order, each with its series in theirs. */
  render(metrics: Iterable<MetricCounts>): Buffer {
    let text = "";
    for (const { definition, series } of metrics) {
      const family = this.familyOf(definition);
      text += family.header;
      for (const one of series) text += `${this.prefixOf(one, family)}${one.count}\n`;
    }
    return Buffer.from(text);
  }

  /**
   * Escapes the prefixes of series not rendered yet, as they are first
   * counted: otherwise the first scrape after a start, or after many new
   * series, would pay for all of them at once. `definitionOf` names each
   * series' metric.
   */
  prepare(series: Iterable<Readonly<SeriesCount>>, definitionOf: (metric: string) => MetricDefinition | undefined): void {
    for (const one of series) {
      const definition = definitionOf(one.metric);
      if (definition) this.prefixOf(one, this.familyOf(definition));
    }
  }

  private familyOf(definition: MetricDefinition): Family {
    let family = this.families.get(definition.name);
    if (family === undefined) {
      const sampleName = exposedName(definition.name);
      const help =
        definition.name === DEFAULT_METRIC
          ? COUNT_METRIC_HELP
          : `Rows counted${definition.labelNames.length > 0 ? ` per ${definition.labelNames.join(", ")}` : ""}, since the state was created.`;
      family = {
        header: `# HELP ${sampleName} ${help}\n# TYPE ${sampleName} ${definition.kind}\n`,
        sampleName,
        labelOpenings: definition.labelNames.map((name, index) => `${index === 0 ? "{" : ","}${name}="`),
      };
      this.families.set(definition.name, family);
    }
    return family;
  }

  private prefixOf(series: Readonly<SeriesCount>, family: Family): string {
    let prefix = this.prefixes.get(series);
    if (prefix === undefined) {
      prefix = family.sampleName;
      family.labelOpenings.forEach((opening, index) => {
        prefix += `${opening}${escapeLabelValue(series.labels[index]!)}"`;
      });
      prefix += family.labelOpenings.length > 0 ? "} " : " ";
      this.prefixes.set(series, prefix);
    }
    return prefix;
  }
}

/** Escapes a label value as the text format requires: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : value;
}

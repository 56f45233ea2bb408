import { countsOf, scrape, seriesOf } from "../support/metrics";

/**
 * One source of every scenario counts under a spec of its own: its rows
 * become chaos_rows{host, job}, labels picked by column number, the header
 * line left out by a filter. Every fault then also hits a non-default spec.
 */
export const SPEC_SOURCE = "pod-b";
const SPEC_METRIC = "chaos_rows";
export const SPEC_ARGS = ["--metric", SPEC_METRIC, "--label", "host=1", "--label", "job=2", "--where", "1=~(?!host$).*"] as const;

/** The key of a source's "host|job_name" truth entry among the scraped series (see countedSeries). */
export function seriesKey(sourceId: string, pairKey: string): string {
  return sourceId === SPEC_SOURCE ? `${SPEC_METRIC}|${pairKey}` : pairKey;
}

/** An aggregator's counts: log_host_job_count as "host|job_name", the spec source's metric as "chaos_rows|host|job". */
export async function countedSeries(metricsUrl: string): Promise<Map<string, number>> {
  const samples = await scrape(metricsUrl);
  const counts = countsOf(samples);
  for (const [key, count] of seriesOf(samples, `${SPEC_METRIC}_total`, ["host", "job"])) counts.set(`${SPEC_METRIC}|${key}`, count);
  return counts;
}

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Fetches and parses a /metrics page. */
export async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return parseExposition(await response.text());
}

/** Parses the Prometheus text exposition format (what prom-client writes). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const label of (match[2] ?? "").matchAll(labelPattern)) {
      labels[label[1]!] = label[2]!.replace(/\\(["\\n])/g, (_, escaped: string) => (escaped === "n" ? "\n" : escaped));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The `log_host_job_count` series as "host|job_name" → value. */
export function countsOf(samples: readonly Sample[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const sample of samples) {
    if (sample.name === "log_host_job_count") counts.set(`${sample.labels.host}|${sample.labels.job_name}`, sample.value);
  }
  return counts;
}

/** Value of a metric with exactly these labels, or undefined. */
export function metricValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))?.value;
}

/** The series of metric `name` as their values of `labelNames` joined by "|" → value. */
export function seriesOf(samples: readonly Sample[], name: string, labelNames: readonly string[]): Map<string, number> {
  const series = new Map<string, number>();
  for (const sample of samples) {
    if (sample.name === name) series.set(labelNames.map((label) => sample.labels[label]).join("|"), sample.value);
  }
  return series;
}

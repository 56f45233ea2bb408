import { createHash } from "node:crypto";
import type { HtmlPage } from "@logtally/runtime";
import type { SourceView } from "../query/source-status";
import { DEFAULT_METRIC } from "@logtally/proto";
import type { MetricKind } from "../ingest/metric-registration";
import type { SeriesCount } from "../store/count-view";

/** How many series of each metric the page lists, largest counts first. */
export const STATUS_PAGE_TOP_COUNTS = 50;

/** How often the page reloads itself, in seconds. */
export const STATUS_PAGE_REFRESH_SECONDS = 5;

/** One metric as the status page shows it. */
export interface MetricSummary {
  readonly name: string;
  readonly labelNames: readonly string[];
  readonly kind: MetricKind;
  /** The sample name on /metrics. */
  readonly exposedAs: string;
  readonly series: number;
  readonly maxSeries: number;
  readonly rows: number;
  /** Its largest counts, largest first. */
  readonly topCounts: readonly Readonly<SeriesCount>[];
}

/** What the status page shows. */
export interface StatusPageView {
  readonly nowMs: number;
  readonly sources: readonly SourceView[];
  /** Every metric, log_host_job_count first. */
  readonly metrics: readonly MetricSummary[];
  /** Series of every metric. */
  readonly seriesCount: number;
  readonly rowsCounted: number;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; }
th, td { padding: 0.25em 0.75em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
td.lagging { color: #a40; font-weight: bold; }
.muted { color: #777; }
`;

/**
 * The page's Content-Security-Policy: nothing may load or run but its own
 * inline style, named by its hash. Every value on the page is escaped; this
 * makes a slip in that harmless too.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Renders the aggregator's status page: the sources with how far behind they
 * are, every metric, and the largest counts of each. Server-rendered, no script, no external asset;
 * it reloads itself with a meta refresh. Labels and ids are user data and
 * are escaped everywhere.
 */
export function renderStatusPage(view: StatusPageView): HtmlPage {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${STATUS_PAGE_REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>logtally aggregator</title>
<style>${STYLE}</style>
</head>
<body>
<h1>logtally aggregator</h1>
<p id="summary"><span id="series">${view.seriesCount}</span> series, <span id="rows-counted">${view.rowsCounted}</span> rows counted.
<span class="muted">As of ${timeElement(view.nowMs)}; reloads every ${STATUS_PAGE_REFRESH_SECONDS} s.</span></p>
<h2>Sources</h2>
${sourcesTable(view)}
<h2>Metrics</h2>
${metricsTable(view.metrics)}
${view.metrics.map(topSection).join("\n")}
</body>
</html>
`;
  return { html, contentSecurityPolicy: CONTENT_SECURITY_POLICY };
}

function sourcesTable(view: StatusPageView): string {
  if (view.sources.length === 0) return `<p class="muted" id="no-sources">No source has connected yet.</p>`;
  const rows = view.sources.map(
    (source) => `<tr>
<td class="source-id">${escapeHtml(source.sourceId)}</td>
<td class="lag number${source.lagBytes ? " lagging" : ""}">${source.lagBytes === undefined ? `<span class="muted">unknown</span>` : source.lagBytes}</td>
<td class="committed-offset number">${source.committedOffset}</td>
<td class="file-size number">${source.fileSizeGeneration === "" ? `<span class="muted">unknown</span>` : source.fileSizeBytes}</td>
<td class="generation">${escapeHtml(source.generation)}</td>
<td class="last-heartbeat">${ago(view.nowMs, source.lastHeartbeatMs)}</td>
<td class="last-batch">${ago(view.nowMs, source.lastSeenMs)}</td>
<td class="connected number">${source.connectedSidecarIds.length}</td>
<td class="sidecars">${escapeHtml(source.connectedSidecarIds.join(", ") || source.lastSidecarId)}</td>
</tr>`,
  );
  return `<table id="sources">
<thead><tr><th>source</th><th class="number">lag (bytes)</th><th class="number">committed offset</th><th class="number">file size</th><th>generation</th><th>last heartbeat</th><th>last batch</th><th class="number">streams</th><th>sidecars</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

function metricsTable(metrics: readonly MetricSummary[]): string {
  const rows = metrics.map(
    (metric) => `<tr>
<td class="metric">${escapeHtml(metric.name)}</td>
<td class="exposed-as">${escapeHtml(metric.exposedAs)}</td>
<td class="type">${metric.kind}</td>
<td class="label-names">${escapeHtml(metric.labelNames.join(", "))}</td>
<td class="series number">${metric.series}</td>
<td class="max-series number">${metric.maxSeries}</td>
<td class="rows number">${metric.rows}</td>
</tr>`,
  );
  return `<table id="metrics">
<thead><tr><th>metric</th><th>exposed as</th><th>type</th><th>labels</th><th class="number">series</th><th class="number">series limit</th><th class="number">rows</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

/** The top counts of one metric: log_host_job_count's in the table the page always had. */
function topSection(metric: MetricSummary): string {
  if (metric.name === DEFAULT_METRIC) return `<h2>Top ${STATUS_PAGE_TOP_COUNTS} counts</h2>\n${countsTable(metric.topCounts)}`;
  return `<h2>Top ${STATUS_PAGE_TOP_COUNTS} series of ${escapeHtml(metric.exposedAs)}</h2>\n${seriesTable(metric)}`;
}

function seriesTable(metric: MetricSummary): string {
  if (metric.topCounts.length === 0) return `<p class="muted">Nothing counted yet.</p>`;
  const header = metric.labelNames.map((name) => `<th>${escapeHtml(name)}</th>`).join("");
  const rows = metric.topCounts.map(
    (series, rank) =>
      `<tr><td class="rank number">${rank + 1}</td>${series.labels.map((value) => `<td class="label">${escapeHtml(value)}</td>`).join("")}<td class="count number">${series.count}</td></tr>`,
  );
  // Metric names are [a-zA-Z0-9_:]: safe in an id as they are.
  return `<table id="top-series-${metric.name}">
<thead><tr><th class="number">#</th>${header}<th class="number">count</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

function countsTable(counts: readonly Readonly<SeriesCount>[]): string {
  if (counts.length === 0) return `<p class="muted" id="no-counts">Nothing counted yet.</p>`;
  const rows = counts.map(
    ({ labels: [host, jobName], count }, rank) =>
      `<tr><td class="rank number">${rank + 1}</td><td class="host">${escapeHtml(host!)}</td><td class="job-name">${escapeHtml(jobName!)}</td><td class="count number">${count}</td></tr>`,
  );
  return `<table id="top-counts">
<thead><tr><th class="number">#</th><th>host</th><th>job_name</th><th class="number">count</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

/** How long ago `thenMs` was, in a <time> element; "never" for 0. */
function ago(nowMs: number, thenMs: number): string {
  if (thenMs === 0) return `<span class="muted">never</span>`;
  const seconds = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  const text = seconds < 120 ? `${seconds} s ago` : seconds < 7200 ? `${Math.round(seconds / 60)} min ago` : `${Math.round(seconds / 3600)} h ago`;
  return timeElement(thenMs, text);
}

function timeElement(ms: number, text?: string): string {
  const iso = new Date(ms).toISOString();
  return `<time datetime="${iso}" title="${iso}">${escapeHtml(text ?? iso)}</time>`;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ENTITIES[character]!);
}

const HTML_ENTITIES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

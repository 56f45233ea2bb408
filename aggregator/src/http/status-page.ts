import { createHash } from "node:crypto";
import type { HtmlPage } from "@logtally/runtime";
import type { SourceView } from "../query/source-status";
import type { PairCount } from "../store/count-view";

/** How many pairs the page lists, largest counts first. */
export const STATUS_PAGE_TOP_COUNTS = 50;

/** How often the page reloads itself, in seconds. */
export const STATUS_PAGE_REFRESH_SECONDS = 5;

/** What the status page shows. */
export interface StatusPageView {
  readonly nowMs: number;
  readonly sources: readonly SourceView[];
  /** The largest counts, largest first. */
  readonly topCounts: readonly Readonly<PairCount>[];
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
 * are, and the largest counts. Server-rendered, no script, no external asset;
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
<h2>Top ${STATUS_PAGE_TOP_COUNTS} counts</h2>
${countsTable(view.topCounts)}
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

function countsTable(counts: readonly Readonly<PairCount>[]): string {
  if (counts.length === 0) return `<p class="muted" id="no-counts">Nothing counted yet.</p>`;
  const rows = counts.map(
    (pair, rank) =>
      `<tr><td class="rank number">${rank + 1}</td><td class="host">${escapeHtml(pair.host)}</td><td class="job-name">${escapeHtml(pair.jobName)}</td><td class="count number">${pair.count}</td></tr>`,
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

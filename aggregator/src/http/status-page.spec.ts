import { test } from "node:test";
import * as assert from "node:assert/strict";
import { escapeHtml, renderStatusPage, type MetricSummary, type StatusPageView } from "./status-page";
import type { SourceView } from "../query/source-status";

const HOSTILE = `<script>alert("x")</script>&'"><img src=x onerror=alert(1)>`;

function source(overrides: Partial<SourceView> = {}): SourceView {
  return {
    sourceId: "pod",
    generation: "1-a#1",
    fileId: "1-a",
    committedOffset: 100,
    lastSeenMs: 1_000,
    generations: 1,
    connectedSidecarIds: ["car"],
    lastSidecarId: "car",
    fileSizeBytes: 150,
    fileSizeGeneration: "1-a#1",
    lagBytes: 50,
    lastHeartbeatMs: 2_000,
    ...overrides,
  };
}

function metric(overrides: Partial<MetricSummary> = {}): MetricSummary {
  return {
    name: "log_host_job_count",
    labelNames: ["host", "job_name"],
    kind: "gauge",
    exposedAs: "log_host_job_count",
    series: 1,
    maxSeries: 10,
    rows: 3,
    topCounts: [{ metric: "log_host_job_count", labels: ["h", "j"], count: 3 }],
    ...overrides,
  };
}

function view(overrides: Partial<StatusPageView> = {}): StatusPageView {
  return { nowMs: 5_000, sources: [source()], metrics: [metric()], seriesCount: 1, rowsCounted: 3, ...overrides };
}

test("escapeHtml leaves no markup character", () => {
  assert.equal(escapeHtml(HOSTILE), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  assert.equal(escapeHtml("server-1 東京"), "server-1 東京");
});

test("every user-supplied value on the page is escaped", () => {
  const page = renderStatusPage(
    view({
      sources: [source({ sourceId: HOSTILE, generation: HOSTILE, connectedSidecarIds: [HOSTILE] })],
      metrics: [metric({ topCounts: [{ metric: "log_host_job_count", labels: [HOSTILE, HOSTILE], count: 1 }] })],
    }),
  );
  assert.ok(!page.html.includes("<script"), "no script element");
  assert.ok(!page.html.includes("<img"), "no img element");
  assert.equal(page.html.split(escapeHtml(HOSTILE)).length - 1, 5, "each value appears escaped");
});

test("the page shows lag, sizes and counts, reloads itself, and is served with a strict policy", () => {
  const page = renderStatusPage(view());
  assert.match(page.html, /<meta http-equiv="refresh" content="5">/);
  assert.match(page.html, /<td class="lag number lagging">50<\/td>/);
  assert.match(page.html, /<td class="file-size number">150<\/td>/);
  assert.match(page.html, /<td class="host">h<\/td><td class="job-name">j<\/td><td class="count number">3<\/td>/);
  assert.match(page.html, /3 s ago/);
  assert.match(page.contentSecurityPolicy, /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'/);
  const unknown = renderStatusPage(view({ sources: [source({ lagBytes: undefined, fileSizeGeneration: "", fileSizeBytes: 0, lastHeartbeatMs: 0 })] }));
  assert.match(unknown.html, /<td class="lag number"><span class="muted">unknown<\/span><\/td>/);
  assert.match(unknown.html, /<td class="last-heartbeat"><span class="muted">never<\/span><\/td>/);
  const empty = renderStatusPage(view({ sources: [], metrics: [metric({ topCounts: [] })] }));
  assert.match(empty.html, /No source has connected yet/);
  assert.match(empty.html, /Nothing counted yet/);
});

test("every metric is listed, and another metric's top series are shown by its labels, escaped", () => {
  const requests = metric({
    name: "http_requests",
    labelNames: ["method", "path"],
    kind: "counter",
    exposedAs: "http_requests_total",
    series: 2,
    rows: 9,
    topCounts: [
      { metric: "http_requests", labels: ["GET", HOSTILE], count: 7 },
      { metric: "http_requests", labels: ["PUT", "/a"], count: 2 },
    ],
  });
  const page = renderStatusPage(view({ metrics: [metric(), requests] }));
  assert.match(page.html, /<td class="metric">http_requests<\/td>\n<td class="exposed-as">http_requests_total<\/td>\n<td class="type">counter<\/td>/);
  assert.match(page.html, /<td class="label-names">method, path<\/td>\n<td class="series number">2<\/td>/);
  assert.match(page.html, /<table id="top-series-http_requests">/);
  assert.match(page.html, /<td class="label">PUT<\/td><td class="label">\/a<\/td><td class="count number">2<\/td>/);
  assert.ok(!page.html.includes("<script"), "no script element");
  assert.match(page.html, /<td class="host">h<\/td><td class="job-name">j<\/td>/, "the pairs keep their table");
});

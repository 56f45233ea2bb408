import { test } from "node:test";
import * as assert from "node:assert/strict";
import { escapeHtml, renderStatusPage, type StatusPageView } from "./status-page";
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

function view(overrides: Partial<StatusPageView> = {}): StatusPageView {
  return { nowMs: 5_000, sources: [source()], topCounts: [{ host: "h", jobName: "j", count: 3 }], seriesCount: 1, rowsCounted: 3, ...overrides };
}

test("escapeHtml leaves no markup character", () => {
  assert.equal(escapeHtml(HOSTILE), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  assert.equal(escapeHtml("server-1 東京"), "server-1 東京");
});

test("every user-supplied value on the page is escaped", () => {
  const page = renderStatusPage(
    view({
      sources: [source({ sourceId: HOSTILE, generation: HOSTILE, connectedSidecarIds: [HOSTILE] })],
      topCounts: [{ host: HOSTILE, jobName: HOSTILE, count: 1 }],
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
  const empty = renderStatusPage(view({ sources: [], topCounts: [] }));
  assert.match(empty.html, /No source has connected yet/);
  assert.match(empty.html, /Nothing counted yet/);
});

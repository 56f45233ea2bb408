import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type Page } from "playwright-core";
import { IngestStream } from "../support/ingest-client";
import { fileSize } from "../support/log-writer";
import { startAggregator, startSidecar } from "../support/processes";
import { QueryProbe } from "../support/query";
import { waitFor } from "../support/wait";

/** Debian's Chromium, driven headless. */
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Labels and ids that would run script if they reached the page as markup. */
const SCRIPT_HOST = `<script>window.__injected = "host"</script>`;
const ATTRIBUTE_JOB = `"><img src=x onerror="window.__injected = 'job'">`;
const MARKUP_SOURCE = `<b onmouseover="window.__injected = 'source'">pod</b>`;

interface PageRow {
  readonly [column: string]: string;
}

/** The text of each cell of a table's body rows, by the cell's class. */
async function tableRows(page: Page, table: string): Promise<PageRow[]> {
  return page.$$eval(`#${table} tbody tr`, (rows) =>
    rows.map((row) => Object.fromEntries([...row.querySelectorAll("td")].map((cell) => [cell.className.split(" ")[0]!, cell.textContent ?? ""]))),
  );
}

/**
 * Requirement: the aggregator's HTTP port serves a page for people at `/`:
 * the sources with their lag and the top 50 counts, as the aggregator has
 * them, every label shown as text (never as markup that runs), reloading
 * itself; /metrics, /healthz and /readyz stay as they are.
 */
test("the status page shows the sources' lag and the top counts, labels as text, and reloads itself", async (t) => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-status-page-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const aggregator = await startAggregator(path.join(dir, "state"), { extraArgs: ["--heartbeat-interval-ms", "200"] });
  t.after(() => aggregator.stop("SIGKILL"));
  const probe = new QueryProbe(aggregator.grpcAddress);
  t.after(() => probe.close());

  // 60 pairs with distinct counts (so the top 50 leaves some out), two of them hostile.
  const deltas = Array.from({ length: 60 }, (_, i) => ({ host: `host-${String(i).padStart(2, "0")}`, jobName: `job-${i % 3}`, count: 100 + i }));
  deltas.push({ host: SCRIPT_HOST, jobName: ATTRIBUTE_JOB, count: 1_000 });
  const simulated = await IngestStream.open(aggregator.grpcAddress, { sourceId: MARKUP_SOURCE, sidecarId: "sim", timeoutMs: 120_000 });
  t.after(() => simulated.close());
  const rows = deltas.reduce((sum, delta) => sum + delta.count, 0);
  const shipped = await simulated.ship({ sequence: 1, startOffset: 0, endOffset: rows, deltas, rows, rejected: [], anchor: "", fileSize: rows + 4_321 });
  assert.equal(shipped.outcome, "APPLIED");

  // A real sidecar whose file ends with a partial line: its lag is that line.
  const file = path.join(dir, "log.csv");
  const completeLines = "server1,backup\nserver1,backup\nserver2,cron\n";
  const partialLine = "server1,par";
  fs.writeFileSync(file, completeLines + partialLine);
  const sidecar = startSidecar("sidecar", { file, aggregator: aggregator.grpcAddress, sourceId: "real" });
  t.after(() => sidecar.stop("SIGKILL"));
  await waitFor(
    async () => {
      const real = (await probe.listSources()).find((source) => source.sourceId === "real");
      return real && Number(real.fileSize) === fileSize(file) && Number(real.lagBytes) === Buffer.byteLength(partialLine) ? true : undefined;
    },
    { describe: () => `the sidecar to report its lag\n${sidecar.dump()}` },
  );

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-chromium-"));
  t.after(() => fs.rmSync(userDataDir, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  const pageUrl = `http://127.0.0.1:${aggregator.metricsPort}/`;
  const response = await page.goto(pageUrl);
  assert.equal(response?.status(), 200);
  assert.match(response?.headers()["content-type"] ?? "", /^text\/html/);
  assert.match(response?.headers()["content-security-policy"] ?? "", /default-src 'none'/);

  // The expectations come from what this test shipped and wrote, not from
  // the aggregator's own answers. Sources, by source id (U+003C "<" sorts first).
  const shown = await tableRows(page, "sources");
  assert.deepEqual(
    shown.map((row) => [row["source-id"], row.lag, row["committed-offset"], row["file-size"], row.connected, row.sidecars]),
    [
      [MARKUP_SOURCE, "4321", String(rows), String(rows + 4_321), "1", "sim"],
      [
        "real",
        String(Buffer.byteLength(partialLine)),
        String(Buffer.byteLength(completeLines)),
        String(Buffer.byteLength(completeLines + partialLine)),
        "1",
        "sidecar",
      ],
    ],
  );

  // The top 50 counts, largest first: every count written is distinct, so the order is by count alone.
  const written = [...deltas, { host: "server1", jobName: "backup", count: 2 }, { host: "server2", jobName: "cron", count: 1 }];
  assert.equal(new Set(written.map(({ count }) => count)).size, written.length, "the counts written are distinct");
  const expectedTop = [...written]
    .sort((a, b) => b.count - a.count)
    .slice(0, 50)
    .map(({ host, jobName, count }) => [host, jobName, String(count)]);
  const top = await tableRows(page, "top-counts");
  assert.deepEqual(
    top.map((row) => [row.host, row["job-name"], row.count]),
    expectedTop,
  );
  assert.equal(top[0]?.host, SCRIPT_HOST, "the hostile pair, shown as its text");
  assert.equal(top[0]?.["job-name"], ATTRIBUTE_JOB);

  // Nothing user-supplied became markup, nothing ran, and the page's own style was allowed.
  assert.equal(await page.locator("script, img, b").count(), 0);
  await page.hover("#sources tbody tr:first-child .source-id");
  assert.equal(await page.evaluate(() => (globalThis as { __injected?: string }).__injected), undefined);
  assert.deepEqual(consoleErrors, []);

  // The page reloads itself: a new largest count shows up without a reload from here.
  const more = { host: "newcomer", jobName: "burst", count: 5_000 };
  const next = await simulated.ship({
    sequence: 2,
    startOffset: rows,
    endOffset: rows + 5_000,
    deltas: [more],
    rows: 5_000,
    rejected: [],
    anchor: "",
    fileSize: rows + 5_000,
  });
  assert.equal(next.outcome, "APPLIED");
  await waitFor(async () => ((await tableRows(page, "top-counts"))[0]?.host === "newcomer" ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 250,
    describe: () => "the page to reload and show the new largest count",
  });
  assert.equal(page.url(), pageUrl);
  assert.deepEqual((await tableRows(page, "sources")).find((row) => row["source-id"] === MARKUP_SOURCE)?.lag, "0");

  // The other endpoints are unchanged.
  const metrics = await fetch(`http://127.0.0.1:${aggregator.metricsPort}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /log_host_job_count\{host="newcomer",job_name="burst"\} 5000/);
  assert.equal(await (await fetch(`http://127.0.0.1:${aggregator.metricsPort}/healthz`)).text(), "ok\n");
  assert.equal(await (await fetch(`http://127.0.0.1:${aggregator.metricsPort}/readyz`)).text(), "ready\n");
  assert.equal((await fetch(`http://127.0.0.1:${aggregator.metricsPort}/elsewhere`)).status, 404);
});

import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { REJECT_REASONS } from "@logtally/proto";
import { REPO_ROOT } from "@logtally/testing";
import * as YAML from "yaml";
import type { KubernetesObject } from "../support/kubernetes";
import { renderKustomization, writeOverlay } from "../support/kustomize";
import { startAggregator } from "../support/processes";

/**
 * logtally's alerting rules (README, "Operations"): the plain rules file and
 * the Prometheus Operator component hold the same groups, promtool accepts
 * both and passes the rules' unit tests, every alert has a firing and a
 * quiet case there, uses only metrics the aggregator serves, and links to a
 * README section of its own name.
 */

const MANIFESTS = path.join(REPO_ROOT, "manifests");
const RULES_FILE = path.join(MANIFESTS, "prometheus/alert-rules.yaml");
const RULES_TEST_FILE = path.join(MANIFESTS, "prometheus/alert-rules.test.yaml");
const COMPONENT = path.join(MANIFESTS, "components/prometheusrule");

/** promtool from the Debian package prometheus, which npm test installs. */
const PROMTOOL = "/usr/bin/promtool";
/** Generous bound for one promtool run; never a measurement. */
const PROMTOOL_TIMEOUT_MS = 60_000;
const SEVERITIES = ["critical", "warning"];

interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertingRule[];
}

interface RuleUnitTest {
  readonly name: string;
  readonly alert_rule_test?: ReadonlyArray<{ alertname: string; exp_alerts?: readonly unknown[] }>;
}

const plainGroups = (YAML.parse(fs.readFileSync(RULES_FILE, "utf8")) as { groups: RuleGroup[] }).groups;
const alerts = plainGroups.flatMap((group) => group.rules);

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-alert-rules-"));
  tempDirs.push(dir);
  return dir;
}

/** Why the promtool tests cannot run here, or undefined when they can. */
function promtoolMissing(): string | undefined {
  return fs.existsSync(PROMTOOL) ? undefined : `${PROMTOOL} not found: install the Debian package prometheus (npm test does)`;
}

/** Runs promtool and asserts that it exits 0, with its output in the failure message. */
function assertPromtoolPasses(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(PROMTOOL, args, { cwd, timeout: PROMTOOL_TIMEOUT_MS }, (error, stdout, stderr) => {
      try {
        const code = error ? (error.code ?? error.signal ?? error.message) : 0;
        assert.equal(code, 0, `promtool ${args.join(" ")} (in ${cwd}) exited with ${code}:\n${stdout}${stderr}`);
        resolve();
      } catch (failure) {
        reject(failure);
      }
    });
  });
}

let rendered: Promise<KubernetesObject[]> | undefined;
/** The base with components/prometheusrule, rendered by `kubectl kustomize` once. */
function renderWithComponent(): Promise<KubernetesObject[]> {
  rendered ??= (async () => {
    const dir = writeOverlay({ resources: [path.join(MANIFESTS, "base")], components: [COMPONENT] });
    tempDirs.push(dir);
    return renderKustomization(dir);
  })();
  return rendered;
}

async function prometheusRule(): Promise<KubernetesObject & { spec: { groups: RuleGroup[] } }> {
  const rules = (await renderWithComponent()).filter((object) => object.kind === "PrometheusRule");
  assert.equal(rules.length, 1, "components/prometheusrule adds one PrometheusRule");
  return rules[0] as KubernetesObject & { spec: { groups: RuleGroup[] } };
}

/** GitHub's anchors for the headings of a Markdown text (code blocks skipped), duplicates numbered as GitHub does. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? undefined : /^#{1,6} (.+)$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    let anchor = base;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

/** The `### ` headings of the README's section `## Operations`. */
function operationsHeadings(readme: string): string[] {
  const start = readme.indexOf("\n## Operations\n");
  assert.ok(start >= 0, "README has a section ## Operations");
  const end = readme.indexOf("\n## ", start + 1);
  assert.ok(readme.slice(end).startsWith("\n## Reference\n"), "## Operations comes right before ## Reference");
  return [...readme.slice(start, end).matchAll(/^### (.+)$/gm)].map((match) => match[1]!.trim());
}

describe("alert rules", () => {
  it("every alert has a severity, a summary, a description and a runbook_url", () => {
    assert.ok(alerts.length > 0, `${RULES_FILE} has alerts`);
    for (const rule of alerts) {
      assert.ok(SEVERITIES.includes(rule.labels?.severity ?? ""), `${rule.alert}: severity is one of ${SEVERITIES.join(", ")}`);
      for (const key of ["summary", "description", "runbook_url"]) {
        assert.ok((rule.annotations?.[key] ?? "").trim().length > 0, `${rule.alert}: annotation ${key}`);
      }
    }
    assert.equal(new Set(alerts.map((rule) => rule.alert)).size, alerts.length, "alert names are unique");
  });

  it("every runbook_url points at the README section named after its alert", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const anchors = headingAnchors(readme);
    const sections = operationsHeadings(readme);
    for (const rule of alerts) {
      const url = new URL(rule.annotations!.runbook_url!);
      assert.match(url.pathname, /\/README\.md$/, `${rule.alert}: runbook_url is the top-level README`);
      assert.equal(url.hash, `#${rule.alert.toLowerCase()}`, `${rule.alert}: runbook_url's anchor is the alert's name`);
      assert.ok(sections.includes(rule.alert), `${rule.alert}: README ## Operations has a section ### ${rule.alert}`);
      assert.ok(anchors.has(url.hash.slice(1)), `${rule.alert}: README has the anchor ${url.hash}`);
    }
  });

  it("the rules use only metrics the aggregator serves, and label values it uses", async () => {
    const stateDir = tempDir();
    const aggregator = await startAggregator(path.join(stateDir, "state"));
    try {
      const response = await fetch(aggregator.metricsUrl);
      assert.equal(response.status, 200);
      // Every registered metric has its TYPE line, samples or not (a counter nothing has incremented yet).
      const served = new Set([...(await response.text()).matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!));
      served.add("up");
      const codes = new Set(Object.keys(grpc.status).filter((key) => Number.isNaN(Number(key))));
      const reasons = new Set<string>(REJECT_REASONS);
      for (const rule of alerts) {
        const metrics = [...rule.expr.matchAll(/\b(up|log_host_job_count|logtally_[a-z0-9_]+)\b/g)].map((match) => match[1]!);
        assert.ok(metrics.length > 0, `${rule.alert}: its expression names a metric`);
        for (const metric of metrics) assert.ok(served.has(metric), `${rule.alert}: ${metric} is not on the aggregator's /metrics`);
        for (const [, label, values] of rule.expr.matchAll(/\b(code|reason)\s*[=!]~?\s*"([^"]*)"/g)) {
          for (const value of values!.split("|")) {
            const known = label === "code" ? codes : reasons;
            assert.ok(known.has(value), `${rule.alert}: ${label}="${value}" is not a value the aggregator uses`);
          }
        }
      }
    } finally {
      await aggregator.stop("SIGKILL");
    }
  });

  it("the unit tests have, for every alert, a case where it fires and one where it does not", () => {
    const unitTests = YAML.parse(fs.readFileSync(RULES_TEST_FILE, "utf8")) as { rule_files: string[]; tests: RuleUnitTest[] };
    assert.deepEqual(unitTests.rule_files, [path.basename(RULES_FILE)], "the unit tests load the plain rules file");
    for (const { alert } of alerts) {
      const cases = unitTests.tests.map((test) => (test.alert_rule_test ?? []).filter((check) => check.alertname === alert));
      const fires = cases.some((checks) => checks.some((check) => (check.exp_alerts ?? []).length > 0));
      const quiet = cases.some((checks) => checks.length > 0 && checks.every((check) => (check.exp_alerts ?? []).length === 0));
      assert.ok(fires, `${path.basename(RULES_TEST_FILE)}: a test where ${alert} fires`);
      assert.ok(quiet, `${path.basename(RULES_TEST_FILE)}: a test where ${alert} never fires`);
    }
  });

  it("components/prometheusrule holds exactly the groups of prometheus/alert-rules.yaml", async () => {
    const rule = await prometheusRule();
    assert.equal(rule.apiVersion, "monitoring.coreos.com/v1");
    assert.equal(rule.metadata?.namespace, "logtally");
    assert.deepEqual(
      rule.spec.groups,
      plainGroups,
      "the PrometheusRule's spec.groups differ from manifests/prometheus/alert-rules.yaml: copy the file's groups under spec:",
    );
  });
});

describe("alert rules with promtool", { skip: promtoolMissing() }, () => {
  it("promtool check rules accepts prometheus/alert-rules.yaml", async () => {
    await assertPromtoolPasses(["check", "rules", path.basename(RULES_FILE)], path.dirname(RULES_FILE));
  });

  it("promtool test rules passes prometheus/alert-rules.test.yaml", async () => {
    await assertPromtoolPasses(["test", "rules", path.basename(RULES_TEST_FILE)], path.dirname(RULES_TEST_FILE));
  });

  it("promtool check rules accepts the PrometheusRule's spec", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "prometheusrule-spec.yaml"), YAML.stringify((await prometheusRule()).spec));
    await assertPromtoolPasses(["check", "rules", "prometheusrule-spec.yaml"], dir);
  });
});

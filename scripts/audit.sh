#!/usr/bin/env bash
# The supply-chain check the README names: `npm run audit`. First the rules
# that need no network (scripts/check-dependencies.mjs: exact versions,
# checksums, install scripts decided on, no native addon), then npm audit
# against the registry's advisory database: no high or critical advisory in
# any dependency. Exits 1 on a breach, 2 when the advisories cannot be read.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
use_supported_node
ensure_node_modules
node scripts/check-dependencies.mjs

report=$(npm audit --json --audit-level=high 2>/dev/null || true)
node - "$report" <<'JS'
const report = JSON.parse(process.argv[2] || "{}");
if (report.error || !report.metadata) {
  const why = report.error?.summary || report.message || "npm audit gave no report";
  console.error(`audit: cannot read the advisory database: ${why}. Nothing was checked against advisories.`);
  process.exit(2);
}
const { high, critical, ...others } = report.metadata.vulnerabilities;
const lower = Object.values(others).reduce((sum, count) => sum + count, 0) - others.total;
for (const [name, finding] of Object.entries(report.vulnerabilities ?? {})) {
  if (finding.severity === "high" || finding.severity === "critical") console.error(`audit: ${finding.severity}: ${name} (${finding.range})`);
}
console.log(`audit: ${critical} critical, ${high} high, ${lower} lower advisories in ${report.metadata.dependencies.total} dependencies`);
process.exit(high + critical > 0 ? 1 : 0);
JS

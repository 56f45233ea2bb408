#!/usr/bin/env bash
# Benchmarks the real sidecar and aggregator against the issue's figures and
# against mtail: `npm run bench -- [--runs N] [--quick] [--only ids] [--json FILE]`
# (see --help). Not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
use_supported_node

# Debian's mtail, the tailer logtally is compared with.
ensure_mtail() {
  [ -x /usr/bin/mtail ] || install_debian_packages mtail
}

ensure_node_modules
build
ensure_mtail
# The PostgreSQL store's figures run on a throwaway server.
ensure_postgresql
exec node --import tsx test/bench/run.ts "$@"

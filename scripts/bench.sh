#!/usr/bin/env bash
# Benchmarks the real sidecar and aggregator against the issue's figures and
# against mtail: `npm run bench -- [--runs N] [--quick] [--only ids] [--json FILE]`
# (see --help). Not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# Debian's mtail, the tailer logtally is compared with.
ensure_mtail() {
  [ -x /usr/bin/mtail ] && return 0
  echo "Installing Debian package: mtail" >&2
  run_as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y -qq --no-install-recommends mtail >/dev/null
}

ensure_node_modules
build
ensure_mtail
exec node --import tsx test/bench/run.ts "$@"

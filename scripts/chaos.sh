#!/usr/bin/env bash
# Runs seeded fault-injection scenarios against the real aggregator and
# sidecars: `npm run chaos -- --runs N --seed S` (see --help). With
# `--store postgres` they run on aggregator replicas sharing a throwaway
# PostgreSQL server, started with the Debian package's binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
use_supported_node

wants_postgres() {
  local previous=""
  for arg in "$@"; do
    if [ "$arg" = "--store=postgres" ] || { [ "$previous" = "--store" ] && [ "$arg" = "postgres" ]; }; then return 0; fi
    previous="$arg"
  done
  return 1
}

if wants_postgres "$@"; then ensure_postgresql; fi
ensure_node_modules
build
exec node --import tsx test/chaos/run.ts "$@"

#!/usr/bin/env bash
# Runs seeded fault-injection scenarios against the real aggregator and
# sidecars: `npm run chaos -- --runs N --seed S` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_node_modules
build
exec node --import tsx test/chaos/run.ts "$@"

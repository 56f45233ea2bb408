#!/usr/bin/env bash
# Runs the whole pipeline locally: one aggregator (SQLite state in .demo/),
# two sidecars, and a writer appending rows to each pod's log.csv. Installs
# and builds what is missing first. Options: see `node scripts/demo.mjs --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
use_supported_node

ensure_node_modules
build
exec node scripts/demo.mjs "$@"

#!/usr/bin/env bash
# Runs every test of logtally: installs what the tests need when it is missing
# (Node.js 26 when the machine's node is older than 24; Debian's prometheus,
# postgresql, python3-grpcio, python3-protobuf and chromium; the npm
# dependencies), checks that a recent kubectl is there (Debian's is too old),
# builds, checks formatting, lint and types (specs included), runs the unit
# specs on Node.js 24 (the oldest line supported) unless that is the node in
# use, then the unit and end-to-end tests in one run of node's test runner,
# whose summary ends the output.
#   --unit   only the unit specs: no packages installed, no lint, no e2e.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
use_supported_node

mapfile -t unit_tests < <(find proto/src runtime/src sidecar/src injector/src aggregator/src -name '*.spec.ts' | sort)

if [ "${1:-}" = "--unit" ]; then
  ensure_node_modules
  build
  exec node --import tsx --test "${unit_tests[@]}"
fi

ensure_debian_packages
require_kubectl
ensure_node_modules
build
npm run --silent lint
npm run --silent typecheck

if [ "$(node_major)" -ne 24 ]; then
  node24="$(pinned_node_bin 24)/node"
  echo "Unit specs on Node.js $("$node24" -v)" >&2
  "$node24" --import tsx --test "${unit_tests[@]}"
fi

mapfile -t e2e_tests < <(find test/e2e -maxdepth 1 -name '*.test.ts' | sort)
exec node --import tsx --test "${unit_tests[@]}" "${e2e_tests[@]}"

#!/usr/bin/env bash
# Runs every test of logtally: installs what the tests need when it is missing
# (Debian's prometheus, python3-grpcio, python3-protobuf and chromium; the npm
# dependencies), checks that a recent kubectl is there (Debian's is too old),
# builds, then runs the unit and end-to-end tests in one run of node's test
# runner, whose summary ends the output.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_debian_packages
require_kubectl
ensure_node_modules
build

mapfile -t unit_tests < <(find proto/src runtime/src sidecar/src injector/src aggregator/src -name '*.spec.ts' | sort)
mapfile -t e2e_tests < <(find test/e2e -maxdepth 1 -name '*.test.ts' | sort)
exec node --import tsx --test "${unit_tests[@]}" "${e2e_tests[@]}"

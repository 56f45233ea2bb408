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

# better-sqlite3, which the engines figure compares node:sqlite with. logtally
# does not depend on it, so it goes outside the workspaces, pinned. Its package
# ships prebuilt Node-API binaries and no install script: nothing compiles, and
# the one binary serves every Node.js (checked by loading it).
BETTER_SQLITE3_VERSION=13.2.0
BETTER_SQLITE3_PREFIX=.cache/bench/better-sqlite3
ensure_better_sqlite3() {
  local package="$BETTER_SQLITE3_PREFIX/node_modules/better-sqlite3"
  if [ "$(node -p "require('./$package/package.json').version" 2>/dev/null)" != "$BETTER_SQLITE3_VERSION" ]; then
    echo "Installing better-sqlite3 $BETTER_SQLITE3_VERSION into $BETTER_SQLITE3_PREFIX (the engines figure)" >&2
    mkdir -p "$BETTER_SQLITE3_PREFIX"
    npm install --prefix "$BETTER_SQLITE3_PREFIX" --no-save --no-audit --no-fund --loglevel=error \
      "better-sqlite3@$BETTER_SQLITE3_VERSION" >&2
  fi
  node -e "new (require('./$package'))(':memory:').close()" ||
    { echo "better-sqlite3 in $BETTER_SQLITE3_PREFIX does not load on Node.js $(node -v)" >&2; return 1; }
}

# Whether figure $1 runs: no --only, or an --only list that names it.
figure_selected() {
  local figure=$1 only="" previous=""
  shift
  for arg in "$@"; do
    case $arg in --only=*) only=${arg#--only=} ;; esac
    [ "$previous" = --only ] && only=$arg
    previous=$arg
  done
  [ -z "$only" ] || [[ ",$only," == *",$figure,"* ]]
}

ensure_node_modules
build
ensure_mtail
if figure_selected engines "$@"; then ensure_better_sqlite3; fi
# The PostgreSQL store's figures run on a throwaway server.
ensure_postgresql
exec node --import tsx test/bench/run.ts "$@"

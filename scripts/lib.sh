# Shared steps of the scripts (test, demo, chaos, bench). Source it from the repository root.

export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1 NPM_CONFIG_UPDATE_NOTIFIER=false

# logtally runs on Node.js 24 and 26. Where the machine's own node is older,
# the scripts run on an official Node.js build from the npm registry, pinned
# with its checksum by scripts/node/<major>/package-lock.json (a package that
# is the binary itself: no install script runs).
node_major() {
  "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# Installs (once) the pinned Node.js <major> and prints its bin directory.
pinned_node_bin() {
  local dir="scripts/node/$1"
  if [ ! -x "$dir/node_modules/.bin/node" ]; then
    echo "Installing Node.js $1 from the npm registry ($dir)" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2
  fi
  echo "$PWD/$dir/node_modules/.bin"
}

# Puts a supported node first on PATH: the machine's when it is 24 or newer,
# else the pinned Node.js 26. npm, npx and every test then run on it.
use_supported_node() {
  [ "$(node_major)" -ge 24 ] && return 0
  local bin
  bin=$(pinned_node_bin 26)
  export PATH="$bin:$PATH"
  echo "Using Node.js $(node -v) from $bin (this machine's node is older than 24)" >&2
}

run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_debian_packages() {
  echo "Installing Debian packages: $*" >&2
  run_as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Tests, chaos runs and benchmarks start their own throwaway PostgreSQL
# servers with the binaries of Debian's postgresql.
has_postgresql() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

ensure_postgresql() {
  has_postgresql || install_debian_packages postgresql
}

# Debian packages the end-to-end tests use: a real Prometheus and promtool,
# a strict reflection client built on Debian's grpcio and protobuf, and
# Chromium to load the aggregator's status page.
ensure_debian_packages() {
  local missing=()
  { [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || missing+=(prometheus)
  /usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 || missing+=(python3-grpcio python3-protobuf)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  has_postgresql || missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] && return 0
  install_debian_packages "${missing[@]}"
}

# kubectl renders manifests/ in the manifest tests (`kubectl kustomize`). Debian's
# kubernetes-client (1.20) embeds a kustomize too old for components, so it is
# not installed here: say how to get a recent one.
require_kubectl() {
  command -v kubectl >/dev/null 2>&1 && return 0
  printf '%s\n' \
    "kubectl is not on PATH. The manifest tests (test/e2e/manifests.test.ts) render" \
    "manifests/ with \`kubectl kustomize\`: install kubectl 1.27 or newer (it embeds" \
    "kustomize v5), see https://kubernetes.io/docs/tasks/tools/, and run again." >&2
  return 1
}

ensure_node_modules() {
  if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "Installing npm dependencies" >&2
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

build() {
  npx --no-install turbo run build --output-logs=errors-only >/dev/null
}

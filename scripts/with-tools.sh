#!/usr/bin/env bash
# Runs a command with the provisioned tools first on PATH (Node >= 22, nats-server, nats).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.tools/bin:$ROOT/node_modules/.bin:$PATH"
# testcontainers' Ryuk reaper image cannot be pulled here (no registry); fixtures clean up.
export TESTCONTAINERS_RYUK_DISABLED="${TESTCONTAINERS_RYUK_DISABLED:-true}"
exec "$@"

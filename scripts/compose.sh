#!/usr/bin/env bash
# Runs Docker Compose from the repository root (docker-compose.yml): the v2 plugin
# (`docker compose`) when it is there, else the standalone `docker-compose` (v1).
#   scripts/compose.sh [compose arguments...]   e.g. up -d, ps, logs -f scheduler-1, down -v
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if docker compose version >/dev/null 2>&1; then
  exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
  exec docker-compose "$@"
fi
printf '[compose] neither "docker compose" nor "docker-compose" is installed: run bash scripts/provision.sh compose\n' >&2
exit 1

#!/usr/bin/env bash
# Everything `npm run lint` checks: types, ESLint (typed), formatting, architecture and cycles.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
step() { printf '\n== %s\n' "$1"; shift; "$@" || status=1; }
step "tsc (strict)" tsc --noEmit -p .
step "eslint" eslint --max-warnings 0 .
step "prettier" prettier --check --log-level warn .
step "dependency-cruiser (boundaries, cycles)" depcruise --config .dependency-cruiser.cjs --output-type err src bench
exit $status

#!/usr/bin/env bash
# The secrets deploy/kubernetes needs (its kustomization generates Secrets from them), made on
# this machine into deploy/kubernetes/secrets/ (git-ignored): NATS users per role in JWT mode,
# the worker signer the worker pods mint their own users with, a CA and the NATS nodes'
# certificate for the StatefulSet's names in NAMESPACE (default: default).
#   bash scripts/k8s-secrets.sh [NAMESPACE]     then: kubectl apply -k deploy/kubernetes
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NS="${1:-default}"
SANS="DNS:nats, DNS:*.nats, DNS:*.nats.$NS.svc, DNS:*.nats.$NS.svc.cluster.local, DNS:localhost, IP:127.0.0.1"
DROVER_TLS_SANS="$SANS" bash "$ROOT/scripts/cluster-secrets.sh" "$ROOT/deploy/kubernetes/secrets"

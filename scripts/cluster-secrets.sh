#!/usr/bin/env bash
# The secrets of the compose cluster (docker-compose.yml), made on this machine and mounted
# read-only into every container as /secure:
#   creds/   NATS users per role in JWT mode (drover creds --jwt): admin, scheduler, submitter,
#            observer, worker-1..3, and the worker signer the autoscaler mints workers with
#   tls/     a CA and one certificate for the three nodes (n1, n2, n3, localhost, 127.0.0.1,
#            or DROVER_TLS_SANS), for clients and for the routes between the nodes (both sides
#            verified)
#   nats.conf  TLS for clients and routes, the cluster, and the operator's accounts
# Idempotent: existing keys and certificates are kept.
#   scripts/cluster-secrets.sh [DIR]     (default: $DROVER_SECRETS_DIR or .drover/cluster)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-${DROVER_SECRETS_DIR:-$ROOT/.drover/cluster}}"
mkdir -p "$OUT/creds" "$OUT/tls"
chmod 700 "$OUT"

bash "$ROOT/scripts/with-tools.sh" node "$ROOT/src/main.ts" creds --jwt --out "$OUT/creds" \
  --workers worker-1,worker-2,worker-3 >/dev/null

cd "$OUT/tls"
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -keyout ca.key -out ca.pem \
    -subj "/CN=drover-cluster-ca" 2>/dev/null
fi
if [ ! -f server.pem ]; then
  cat >server.ext <<EOF
subjectAltName = ${DROVER_TLS_SANS:-DNS:n1, DNS:n2, DNS:n3, DNS:localhost, IP:127.0.0.1}
extendedKeyUsage = serverAuth, clientAuth
EOF
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
    -subj "/CN=drover-nats" 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -out server.pem -extfile server.ext 2>/dev/null
  rm -f server.csr
fi
# The containers' processes read these as root; the CA's key never leaves this folder.
chmod 600 ca.key server.key

cat >"$OUT/nats.conf" <<'EOF'
# The compose cluster's NATS nodes (made by scripts/cluster-secrets.sh). Each node adds its
# name (-n), JetStream (-js) with its store (-sd) and monitor port (-m) on its command line.
listen: "0.0.0.0:4222"
max_payload: 1MB
tls {
  cert_file: "/secure/tls/server.pem"
  key_file: "/secure/tls/server.key"
  ca_file: "/secure/tls/ca.pem"
}
cluster {
  name: drover
  listen: "0.0.0.0:6222"
  routes: [ "nats://n1:6222", "nats://n2:6222", "nats://n3:6222" ]
  tls {
    cert_file: "/secure/tls/server.pem"
    key_file: "/secure/tls/server.key"
    ca_file: "/secure/tls/ca.pem"
    verify: true
  }
}
include "creds/server.conf"
EOF
printf '[cluster-secrets] %s: creds/ (JWT users per role), tls/ (CA and node certificate), nats.conf\n' "$OUT" >&2

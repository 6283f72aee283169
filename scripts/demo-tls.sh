#!/usr/bin/env bash
# The Baton demo with TLS: a throwaway CA and a certificate per node made
# with openssl (scripts/tls-certs.sh, as docs/tls.md shows), then the
# three-node demo with Raft over mutual TLS, the API over HTTPS and the CLI
# trusting the CA through BATON_CACERT (the same as --ca-cert).
# Usage: [PORT_BASE=7000] scripts/demo-tls.sh BIN_DIR
set -euo pipefail
here=$(dirname "$0")
command -v openssl >/dev/null || { echo "demo-tls needs openssl (Debian package openssl)" >&2; exit 1; }
pki=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo-pki.XXXXXX")
trap 'rm -rf "$pki"' EXIT
"$here/tls-certs.sh" "$pki" n1 n2 n3 --hosts 127.0.0.1,localhost --days 1
printf '\n\033[1m== %s\033[0m\n' "TLS: a throwaway CA in $pki; each node's certificate names its id"
for n in n1 n2 n3; do
  printf '  %s: %s\n' "$n" "$(openssl x509 -in "$pki/$n.pem" -noout -subject -ext subjectAltName | tr '\n' ' ' | tr -s ' ')"
done
export BATON_DEMO_PKI=$pki BATON_CACERT=$pki/ca.pem
"$here/demo.sh" "$@"

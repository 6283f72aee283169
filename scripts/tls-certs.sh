#!/usr/bin/env bash
# Makes a CA and a node certificate per member with openssl, as
# docs/tls.md describes: DIR/ca.pem and DIR/ca-key.pem, then DIR/ID.pem and
# DIR/ID-key.pem for each ID, naming the ID in the CommonName and HOSTS
# (comma-separated IP addresses and DNS names, default 127.0.0.1,localhost)
# in the subjectAltName. An existing CA in DIR is reused.
# Usage: scripts/tls-certs.sh DIR ID... [--hosts HOSTS] [--days N]
set -euo pipefail
dir=${1:?usage: tls-certs.sh DIR ID... [--hosts HOSTS] [--days N]}; shift
hosts=127.0.0.1,localhost
days=365
ids=()
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    *) ids+=("$1"); shift ;;
  esac
done
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.pem ]; then
  openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout ca-key.pem -out ca.pem -days 3650 -subj "/CN=Baton CA" 2>/dev/null
fi

san=""
IFS=, read -ra hs <<<"$hosts"
for h in "${hs[@]}"; do
  if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+="IP:$h,"; else san+="DNS:$h,"; fi
done
san=${san%,}

for id in "${ids[@]}"; do
  openssl req -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$id-key.pem" -out "$id.csr" -subj "/CN=$id" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" > "$id.ext"
  openssl x509 -req -in "$id.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -days "$days" -extfile "$id.ext" -out "$id.pem" 2>/dev/null
  rm -f "$id.csr" "$id.ext"
done

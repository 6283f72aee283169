#!/usr/bin/env bash
# Runs a local three-node Baton cluster on loopback until Ctrl-C.
# Usage: [PORT_BASE=7000] scripts/cluster.sh [path/to/baton]
set -euo pipefail
. "$(dirname "$0")/ports.sh"
bin=$(realpath "${1:-bin/baton}")
base=$(pick_port_base)
api() { echo "127.0.0.1:$((base + 10 * $1))"; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-cluster.XXXXXX")
pids=()
stop() {
  echo
  echo "stopping the cluster..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "data and logs kept in $dir"
}
trap stop EXIT
trap "exit 130" INT TERM

start() { # node-number extra...
  local i=$1; shift
  "$bin" agent --id "n$i" --data-dir "$dir/n$i" --raft-addr "127.0.0.1:$((base + 10 * i + 1))" \
    --http-addr "$(api "$i")" "$@" >"$dir/n$i.log" 2>&1 &
  pids+=($!)
}

wait_members() { # count
  for _ in $(seq 1 200); do
    if [ "$("$bin" members --addr "$(api 1)" --json 2>/dev/null | grep -c '"id"')" -ge "$1" ]; then return 0; fi
    sleep 0.1
  done
  echo "the cluster did not form; logs in $dir" >&2
  exit 1
}

start 1 --bootstrap
wait_members 1
start 2 --join "$(api 1)"
start 3 --join "$(api 1)"
wait_members 3
"$bin" members --addr "$(api 1)"
cat <<MSG

A three-node cluster runs on loopback (APIs on $(api 1), $(api 2), $(api 3)).
In another terminal:
  export BATON_ADDR=$(api 1)
  $bin members
  $bin leader
  $bin leader transfer --to n3
Logs and data: $dir
Press Ctrl-C to stop.
MSG
wait

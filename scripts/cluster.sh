#!/usr/bin/env bash
# Runs a local three-node Baton cluster on loopback until Ctrl-C.
# Usage: scripts/cluster.sh [path/to/baton]
set -euo pipefail
bin=$(realpath "${1:-bin/baton}")
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

start() { # id raft-port http-port extra...
  local id=$1 rp=$2 hp=$3; shift 3
  "$bin" agent --id "$id" --data-dir "$dir/$id" --raft-addr "127.0.0.1:$rp" \
    --http-addr "127.0.0.1:$hp" "$@" >"$dir/$id.log" 2>&1 &
  pids+=($!)
}

wait_members() { # count
  for _ in $(seq 1 200); do
    if [ "$("$bin" members --addr 127.0.0.1:7070 --json 2>/dev/null | grep -c '"id"')" -ge "$1" ]; then return 0; fi
    sleep 0.1
  done
  echo "the cluster did not form; logs in $dir" >&2
  exit 1
}

start n1 7071 7070 --bootstrap
wait_members 1
start n2 7081 7080 --join 127.0.0.1:7070
start n3 7091 7090 --join 127.0.0.1:7070
wait_members 3
"$bin" members --addr 127.0.0.1:7070
cat <<MSG

A three-node cluster runs on loopback (APIs on 127.0.0.1:7070, :7080, :7090).
In another terminal:
  $bin members
  $bin leader
  $bin leader transfer --to n3
Logs and data: $dir
Press Ctrl-C to stop.
MSG
wait

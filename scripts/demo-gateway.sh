#!/usr/bin/env bash
# The gateway demo: five nodes of a toy HTTP service, a Baton agent beside
# each, and `baton gateway` in front of them, with a client load through it
# (GETs and POSTs). Two upgrades under the same load, each step's restart
# stopping the service for half a second:
#   1. 1.0.0 -> 2.0.0 with --strategy ring through Baton's gateway: a node
#      leaves the rotation before its drain, returns after its health check,
#      and a refused connection goes to the node's ring successor;
#   2. 2.0.0 -> 3.0.0 with --strategy by-id through the same gateway run as a
#      plain proxy (--passive --no-failover): the baseline.
# It prints each run's client requests and failures, and exits 1 when a
# request failed through Baton's gateway. Everything it starts is stopped.
# Usage: [PORT_BASE=7000] [RATE=200] scripts/demo-gateway.sh BIN_DIR
set -euo pipefail
. "$(dirname "$0")/ports.sh"
base=$(pick_port_base)
bindir=$(realpath "${1:-bin}")
baton="$bindir/baton"
svc="$bindir/demosvc"
rate=${RATE:-200}
dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo-gateway.XXXXXX")
nodes="n1 n2 n3 n4 n5"
pids=()
gw_pid=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  [ -n "$gw_pid" ] && kill -TERM "$gw_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for n in $nodes; do
    [ -f "$dir/$n/svc.pid" ] && kill -TERM "$(cat "$dir/$n/svc.pid")" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "demo stopped; logs in $dir"
}
trap cleanup EXIT
trap "exit 130" INT TERM

port() { # node offset -> port: the API at offset 0, Raft at 1, the service at 2
  echo $(( base + ${1#n} * 10 + $2 ))
}
gw_addr=127.0.0.1:$((base + 1))
metrics_addr=127.0.0.1:$((base + 2))

# Each node's hooks: drain waits for the requests in flight, install writes
# the new version, restart stops the service, leaves it down for half a
# second and starts it again, health asks it, version prints what is
# installed.
write_node() {
  local n=$1 d="$dir/$1" addr="127.0.0.1:$(port "$1" 2)"
  mkdir -p "$d"
  echo 1.0.0 > "$d/version"
  cat > "$d/hook.sh" <<HOOK
#!/bin/sh
d="$d"; addr="$addr"; svc="$svc"
case "\$1" in
drain)   sleep 0.2; echo "$n: drained" ;;
install) sleep 0.2; echo "\$BATON_TARGET_VERSION" > "\$d/version" ;;
restart) pid=\$(cat "\$d/svc.pid"); kill "\$pid" 2>/dev/null
         while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
         sleep 0.5
         setsid "\$svc" serve --node $n --addr "\$addr" --version-file "\$d/version" >>"\$d/svc.log" 2>&1 </dev/null &
         echo \$! > "\$d/svc.pid" ;;
health)  for i in 1 2 3 4 5 6 7 8 9 10; do "\$svc" check --addr "\$addr" >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1 ;;
version) cat "\$d/version" ;;
rollback) echo "\$BATON_TARGET_VERSION" > "\$d/version" ;;
esac
HOOK
  chmod +x "$d/hook.sh"
  cat > "$d/agent.json" <<CFG
{"service_addr": "$addr",
 "upgrade": {"drain": "$d/hook.sh drain", "install": "$d/hook.sh install", "restart": "$d/hook.sh restart",
             "health": "$d/hook.sh health", "version": "$d/hook.sh version", "rollback": "$d/hook.sh rollback",
             "timeout": "30s"}}
CFG
  setsid "$svc" serve --node "$n" --addr "$addr" --version-file "$d/version" >>"$d/svc.log" 2>&1 </dev/null &
  echo $! > "$d/svc.pid"
}

start_agent() { # node extra...
  local n=$1; shift
  "$baton" agent --id "$n" --data-dir "$dir/$n/data" --raft-addr "127.0.0.1:$(port "$n" 1)" \
    --http-addr "127.0.0.1:$(port "$n" 0)" --config "$dir/$n/agent.json" --raft-multiplier 0.3 \
    "$@" >>"$dir/$n/agent.log" 2>&1 &
  pids+=($!)
}

wait_for() { # description command...
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what; logs in $dir" >&2; exit 1
}

start_gateway() { # log extra-flags...
  local log=$1; shift
  "$baton" gateway --listen "$gw_addr" --metrics-listen "$metrics_addr" --name demo \
    --addr "127.0.0.1:$(port n1 0),127.0.0.1:$(port n2 0)" "$@" >>"$log" 2>&1 &
  gw_pid=$!
  wait_for "the gateway to route" "$svc" check --addr "$gw_addr"
}

stop_gateway() {
  kill -TERM "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
  gw_pid=
}

# run LABEL VERSION STRATEGY: the load through the gateway during one
# upgrade; the load's summary goes to $dir/LABEL.result.
run() {
  local label=$1 version=$2 strategy=$3
  "$svc" load --url "http://$gw_addr/" --rate "$rate" --duration 180s --label "$label" >"$dir/$label.result" 2>&1 &
  local load=$!
  sleep 1
  local txn
  txn=$("$baton" upgrade start --version "$version" --strategy "$strategy")
  echo "transaction $txn ($strategy) under a load of $rate requests a second"
  if ! "$baton" upgrade status "$txn" --watch >"$dir/$label.watch" 2>&1; then
    echo "the upgrade did not finish; see $dir/$label.watch" >&2
  fi
  "$baton" upgrade status "$txn"
  sleep 1
  kill -INT "$load"
  wait "$load" || true
}

say "Starting five toy services at 1.0.0 and a Baton agent beside each"
for n in $nodes; do write_node $n; done
start_agent n1 --bootstrap
wait_for "n1 to lead" "$baton" leader --addr "127.0.0.1:$(port n1 0)"
for n in n2 n3 n4 n5; do start_agent $n --join "127.0.0.1:$(port n1 0)"; done
export BATON_ADDR=127.0.0.1:$(port n2 0)
wait_for "five members" sh -c "[ \$('$baton' members --json | grep -c '\"service_addr\"') -eq 5 ]"
"$baton" members
"$baton" ring

say "Baton's gateway at $gw_addr (metrics at http://$metrics_addr/metrics)"
start_gateway "$dir/gateway.log"
wait_for "the gateway to register" grep -q "registered with the cluster" "$dir/gateway.log"
"$baton" upgrade plan --version 2.0.0 --strategy ring

say "1. A ring upgrade to 2.0.0 through Baton's gateway"
run gateway 2.0.0 ring
echo "what the gateway logged about rotation and forwards:"
{ grep -E 'msg=(rotation|"forward to successor"|"request failed")' "$dir/gateway.log" || true; } | sed 's/^/  /' | tail -n 25
stop_gateway

say "2. The baseline: a by-id upgrade to 3.0.0 through a plain proxy (--passive --no-failover)"
start_gateway "$dir/gateway-plain.log" --passive --no-failover
run plain 3.0.0 by-id
stop_gateway

say "Client requests during each upgrade"
cat "$dir/gateway.result" "$dir/plain.result"
failed=$(sed -n 's/.* \([0-9]*\) failed (.*/\1/p' "$dir/gateway.result" | head -n 1)
baseline=$(sed -n 's/.* \([0-9]*\) failed (.*/\1/p' "$dir/plain.result" | head -n 1)
echo "RESULT gateway_failed=${failed:-unknown} baseline_failed=${baseline:-unknown}"
[ "${failed:-1}" = 0 ]

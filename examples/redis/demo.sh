#!/usr/bin/env bash
# The Redis demo (make demo-redis): a Redis 7 primary with two replicas, a
# Baton agent beside each, rolled with secondaries-first under a client that
# writes and reads through the whole run. Baton's leader is killed once on
# the way. The service's primary (n2) is not Baton's leader (n1): Baton
# switches the service over to an upgraded replica (FAILOVER TO) before n2
# upgrades, and hands its own leadership off before its leader's node does.
# At the end the client checks every write Redis acknowledged; the demo
# fails if one was lost. Everything it starts is stopped at the end.
# Usage: [PORT_BASE=7000] examples/redis/demo.sh BIN_DIR
#   BIN_DIR holds baton and redis-demo-client (make demo-redis builds both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/ports.sh"
for cmd in redis-server redis-cli jq; do
  command -v "$cmd" >/dev/null || { echo "demo-redis needs $cmd (apt-get install -y redis-server jq)" >&2; exit 1; }
done
base=$(pick_port_base)
bindir=$(realpath "${1:-bin}")
baton="$bindir/baton"
client="$bindir/redis-demo-client"
dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-redis.XXXXXX")
export REDIS_DEMO_DIR="$dir"
pids=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
port() { # node offset -> port: the API at 0, Raft at 1, Redis at 2
  echo $(( base + ${1#n} * 10 + $2 ))
}
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for n in n1 n2 n3; do redis-cli -p "$(port $n 2)" shutdown nosave >/dev/null 2>&1 || true; done
  wait 2>/dev/null || true
  echo "demo stopped; logs in $dir"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# A wait's jq reads its input with -n and `input`: jq 1.6's -e alone exits 0
# on empty input, which a failed baton call gives.
wait_for() { # description command...
  local what=$1; shift
  for _ in $(seq 1 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what; logs in $dir" >&2; exit 1
}

start_agent() { # node extra...
  local n=$1; shift
  "$baton" agent --id "$n" --data-dir "$dir/$n/data" --raft-addr "127.0.0.1:$(port "$n" 1)" \
    --http-addr "127.0.0.1:$(port "$n" 0)" --config "$dir/$n/agent.hcl" --raft-multiplier 0.3 \
    "$@" >>"$dir/$n/agent.log" 2>&1 &
  eval "pid_$n=$!"
  pids+=($!)
}

roles() {
  for n in n1 n2 n3; do
    printf '  %s redis %s: %s, version %s\n' "$n" "127.0.0.1:$(port $n 2)" \
      "$(redis-cli -p "$(port $n 2)" role 2>/dev/null | head -1)" "$(cat "$dir/$n/version")"
  done
}

say "Starting Redis: n2 (127.0.0.1:$(port n2 2)) the primary, n1 and n3 its replicas"
cp "$here/redis-hook.sh" "$dir/redis-hook.sh"
for n in n1 n2 n3; do
  mkdir -p "$dir/$n"
  echo 1.0.0 > "$dir/$n/version"
  port "$n" 2 > "$dir/$n/redis.port"
  sed -e "s/@NODE@/$n/" -e "s/@REDIS_ADDR@/127.0.0.1:$(port "$n" 2)/" "$here/agent.hcl.in" > "$dir/$n/agent.hcl"
  replica=()
  [ "$n" = n2 ] || replica=(--replicaof 127.0.0.1 "$(port n2 2)")
  redis-server --port "$(port "$n" 2)" --bind 127.0.0.1 --daemonize yes --pidfile "$dir/$n/redis.pid" \
    --logfile "$dir/$n/redis.log" --dir "$dir/$n" --save "" --appendonly no "${replica[@]}"
done
for n in n1 n3; do
  wait_for "$n to sync" sh -c "redis-cli -p $(port $n 2) info replication | grep -q master_link_status:up"
done
roles

say "Starting a Baton agent beside each; n1 bootstraps and leads Baton"
start_agent n1 --bootstrap
wait_for "n1 to lead" "$baton" leader --addr "127.0.0.1:$(port n1 0)"
start_agent n2 --join "127.0.0.1:$(port n1 0)"
start_agent n3 --join "127.0.0.1:$(port n1 0)"
export BATON_ADDR="127.0.0.1:$(port n3 0)"
wait_for "the role hooks to name n2 the primary" sh -c \
  "'$baton' members --json | jq -en 'input | [.[] | select(.role == \"primary\")] | map(.id) == [\"n2\"] and length == 1' "
wait_for "three members" sh -c "[ \$('$baton' members --json | jq length) -eq 3 ]"
"$baton" members

say "A client writes and reads through the whole run"
"$client" --redis "127.0.0.1:$(port n1 2),127.0.0.1:$(port n2 2),127.0.0.1:$(port n3 2)" \
  --out "$dir/client.json" > "$dir/client.log" 2>&1 &
client_pid=$!
wait_for "the client's first writes" sh -c "redis-cli -p $(port n2 2) dbsize | grep -qv '^0$'"

say "The plan: the service's primary n2 last, whoever leads Baton"
"$baton" upgrade plan --version 2.0.0 --strategy secondaries-first --max-lag 1000000

say "Starting the upgrade to 2.0.0 and watching it"
# --max-lag is in bytes of the replication stream: a replica under a steady
# writer is a few hundred bytes behind; FAILOVER TO then waits for it to
# have every write before it swaps the roles.
txn=$("$baton" upgrade start --version 2.0.0 --strategy secondaries-first --max-lag 1000000)
echo "transaction $txn"
"$baton" upgrade status "$txn" --watch &
watch=$!

wait_for "the first step" sh -c "'$baton' upgrade status $txn --json | jq -en 'input | .steps[] | select(.state == \"running\")'"
leader=$("$baton" leader --json | jq -r .id)
say "SIGKILL of Baton's leader ($leader) in the middle of the run"
victim=$(eval echo "\$pid_$leader")
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
sleep 2
say "Restarting $leader from its data directory; the run goes on under the new leader"
start_agent "$leader"

status=0
wait "$watch" || status=$?
sleep 1
kill -TERM "$client_pid"
client_status=0
wait "$client_pid" || client_status=$?

say "Final state"
"$baton" members
roles
say "The client"
grep -E '^client: (master is now|request failed \(1 )' "$dir/client.log" || true
tail -n 1 "$dir/client.log"
if [ "$status" -ne 0 ] || [ "$client_status" -ne 0 ]; then
  echo "demo-redis FAILED (upgrade exit $status, client exit $client_status); logs in $dir" >&2
  exit 1
fi
echo "demo-redis: the upgrade is done and no acknowledged write was lost"

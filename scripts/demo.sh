#!/usr/bin/env bash
# The Baton demo: a three-node cluster on loopback, each node running a toy
# service at 1.0.0, upgraded to 2.0.0 node by node while the leader is killed
# with SIGKILL half-way. Everything it starts is stopped at the end.
# Usage: [PORT_BASE=7000] scripts/demo.sh BIN_DIR
# With BATON_DEMO_PKI=DIR (scripts/demo-tls.sh sets it) the agents run with
# TLS, each with DIR/ID.pem, DIR/ID-key.pem and DIR/ca.pem.
set -euo pipefail
. "$(dirname "$0")/ports.sh"
base=$(pick_port_base)
bindir=$(realpath "${1:-bin}")
baton="$bindir/baton"
svc="$bindir/demosvc"
dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo.XXXXXX")
pids=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for n in n1 n2 n3; do
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

# Each node's hooks: install writes the new version, restart restarts the
# service, health asks the service, version prints what is installed.
write_node() {
  local n=$1 d="$dir/$1" addr="127.0.0.1:$(port "$1" 2)"
  mkdir -p "$d"
  echo 1.0.0 > "$d/version"
  cat > "$d/hook.sh" <<HOOK
#!/bin/sh
d="$d"; addr="$addr"; svc="$svc"
case "\$1" in
drain)   echo "$n: draining" ;;
install) sleep 2; echo "\$BATON_TARGET_VERSION" > "\$d/version"; echo "$n: installed \$BATON_TARGET_VERSION" ;;
restart) kill "\$(cat "\$d/svc.pid")" 2>/dev/null; sleep 0.2
         setsid "\$svc" serve --node $n --addr "\$addr" --version-file "\$d/version" >>"\$d/svc.log" 2>&1 </dev/null &
         echo \$! > "\$d/svc.pid" ;;
health)  "\$svc" check --addr "\$addr" >/dev/null ;;
version) cat "\$d/version" ;;
rollback) echo "\$BATON_TARGET_VERSION" > "\$d/version" ;;
esac
HOOK
  chmod +x "$d/hook.sh"
  cat > "$d/agent.json" <<CFG
{"upgrade": {"drain": "$d/hook.sh drain", "install": "$d/hook.sh install", "restart": "$d/hook.sh restart",
             "health": "$d/hook.sh health", "version": "$d/hook.sh version", "rollback": "$d/hook.sh rollback",
             "timeout": "30s"}}
CFG
  setsid "$svc" serve --node "$n" --addr "$addr" --version-file "$d/version" >>"$d/svc.log" 2>&1 </dev/null &
  echo $! > "$d/svc.pid"
}

start_agent() { # node extra...
  local n=$1; shift
  if [ -n "${BATON_DEMO_PKI:-}" ]; then
    set -- --tls-cert "$BATON_DEMO_PKI/$n.pem" --tls-key "$BATON_DEMO_PKI/$n-key.pem" --tls-ca "$BATON_DEMO_PKI/ca.pem" "$@"
  fi
  "$baton" agent --id "$n" --data-dir "$dir/$n/data" --raft-addr "127.0.0.1:$(port "$n" 1)" \
    --http-addr "127.0.0.1:$(port "$n" 0)" --config "$dir/$n/agent.json" --raft-multiplier 0.3 \
    "$@" >>"$dir/$n/agent.log" 2>&1 &
  eval "pid_$n=$!"
  pids+=($!)
}

services() {
  for n in n1 n2 n3; do printf '  %s\n' "$("$svc" check --addr "127.0.0.1:$(port $n 2)" 2>&1)"; done
}

wait_for() { # description command...
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what; logs in $dir" >&2; exit 1
}

say "Starting three toy services at 1.0.0 and a Baton agent beside each"
for n in n1 n2 n3; do write_node $n; done
start_agent n1 --bootstrap
wait_for "n1 to lead" "$baton" leader --addr 127.0.0.1:$(port n1 0)
start_agent n2 --join 127.0.0.1:$(port n1 0)
start_agent n3 --join 127.0.0.1:$(port n1 0)
export BATON_ADDR=127.0.0.1:$(port n3 0)
wait_for "three members" sh -c "[ \$('$baton' members --json | grep -c '\"id\"') -eq 3 ]"
"$baton" members
services

say "The plan: secondaries first, the leader last, after a leadership handoff"
"$baton" upgrade plan --version 2.0.0 --strategy secondaries-first

say "Starting the upgrade to 2.0.0 and watching it"
txn=$("$baton" upgrade start --version 2.0.0 --strategy secondaries-first)
echo "transaction $txn"
"$baton" upgrade status "$txn" --watch &
watch=$!

# Kill the leader with SIGKILL while the first step runs; bring it back
# a little later, as an operator (or systemd) would.
wait_for "the first step" sh -c "'$baton' upgrade status $txn --json | grep -q '\"state\": \"running\"'"
sleep 1
leader=$("$baton" leader --json | sed -n 's/.*"id": "\(n[0-9]\)".*/\1/p')
say "SIGKILL of the leader ($leader) in the middle of the run"
victim=$(eval echo "\$pid_$leader")
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true # reap it here, so the shell prints no job line
new_leader=""
for _ in $(seq 1 100); do
  # No leader for a moment is what this loop waits out: baton leader then
  # fails, which must not end the script (set -e, pipefail).
  new_leader=$("$baton" leader --json 2>/dev/null | sed -n 's/.*"id": "\(n[0-9]\)".*/\1/p' || true)
  [ -n "$new_leader" ] && [ "$new_leader" != "$leader" ] && break
  sleep 0.1
done
say "Leadership moved from $leader to ${new_leader:-(no leader yet)}"
sleep 2
say "Restarting $leader from its data directory; the run goes on under the new leader"
start_agent "$leader"

status=0
wait "$watch" || status=$?
say "Final state"
"$baton" members
services
exit $status

#!/usr/bin/env bash
# The fleet demo: three Baton servers on loopback and a fleet of client
# agents (cmd/batonfleet, CLIENTS of them, 1000 by default) in one process,
# upgraded from 1.0.0 to 2.0.0 by id with MAX_PARALLEL steps at once; the
# servers' leader is killed with SIGKILL once, a third of the way, and
# started again. It prints the timeline. Everything it starts is stopped at
# the end.
# Needs jq.
# Usage: [PORT_BASE=7000] [CLIENTS=1000] [MAX_PARALLEL=10%] scripts/demo-fleet.sh BIN_DIR
set -euo pipefail
. "$(dirname "$0")/ports.sh"
base=$(pick_port_base)
bindir=$(realpath "${1:-bin}")
baton="$bindir/baton"
fleetbin="$bindir/batonfleet"
clients=${CLIENTS:-1000}
maxpar=${MAX_PARALLEL:-10%}
dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-fleet.XXXXXX")
pids=()
t0=$(date +%s.%N)

say() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo stopped; logs in $dir"
}
trap cleanup EXIT
trap "exit 130" INT TERM

port() { echo $(( base + ${1#n} * 10 + $2 )); }
api() { echo "127.0.0.1:$(port "$1" 0)"; }

# The servers' hooks: install records the version, version prints it.
mkdir -p "$dir/versions"
cat > "$dir/hook.sh" <<HOOK
#!/bin/sh
case "\$1" in
install) echo "\$BATON_TARGET_VERSION" > "$dir/versions/\$BATON_NODE_ID" ;;
version) cat "$dir/versions/\$BATON_NODE_ID" 2>/dev/null || echo 1.0.0 ;;
esac
HOOK
chmod +x "$dir/hook.sh"
cat > "$dir/server.json" <<CFG
{"upgrade": {"install": "$dir/hook.sh install", "version": "$dir/hook.sh version", "timeout": "30s"}}
CFG

start_server() { # node extra...
  local n=$1; shift
  "$baton" agent --id "$n" --data-dir "$dir/$n" --raft-addr "127.0.0.1:$(port "$n" 1)" \
    --http-addr "$(api "$n")" --config "$dir/server.json" \
    --http-max-conns 0 --http-max-conns-per-client 0 --log-level warn "$@" >>"$dir/$n.log" 2>&1 &
  eval "pid_$n=$!"
  pids+=($!)
}

any() { # a command through any server that answers
  local n
  for n in n1 n2 n3; do BATON_ADDR="$(api $n)" "$baton" "$@" 2>/dev/null && return 0; done
  return 1
}

say "starting three servers"
start_server n1 --bootstrap
until BATON_ADDR="$(api n1)" "$baton" members >/dev/null 2>&1; do sleep 0.2; done
start_server n2 --join "$(api n1)"
start_server n3 --join "$(api n1)"
until [ "$(BATON_ADDR="$(api n1)" "$baton" members --json 2>/dev/null | grep -o '"id"' | wc -l)" -ge 3 ]; do sleep 0.2; done

say "starting $clients client agents (batonfleet)"
"$fleetbin" -join "$(api n1),$(api n2),$(api n3)" -clients "$clients" -start-rate 100 -dir "$dir/fleet" -duration 30m >>"$dir/fleet.log" 2>&1 &
pids+=($!)
want=$((clients + 3))
until [ "$(any members --json | jq '[.[] | select(.client)] | length' 2>/dev/null || echo 0)" -ge "$clients" ]; do sleep 1; done
say "$clients clients registered; the catalogue holds $want members"

say "upgrade start --version 2.0.0 --strategy by-id --max-parallel $maxpar"
id=$(any upgrade start --version 2.0.0 --strategy by-id --max-parallel "$maxpar")
say "transaction $id"

# What the servers spent: peak resident memory and CPU time of each server
# process, and the client polls each served as leader (baton_clients_polls_total).
polls() { curl -s "http://$(api "$1")/v1/metrics" 2>/dev/null | sed -n 's/^baton_clients_polls_total \([0-9.e+]*\)$/\1/p' | head -1; }
usage() { # node -> "peak RSS MiB, CPU s"
  local pid; eval "pid=\$pid_$1"
  local hwm ticks
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
  echo "peak RSS $((hwm / 1024)) MiB, CPU $(echo "scale=1; $ticks / $(getconf CLK_TCK)" | bc) s"
}
upgrade_t0=$(date +%s.%N)

killed=
while :; do
  st=$(any upgrade status --json "$id" || true)
  state=$(echo "$st" | jq -r '.state // empty' 2>/dev/null || true)
  done_n=$(echo "$st" | jq '[.steps[]? | select(.state == "done")] | length' 2>/dev/null || echo 0)
  say "state ${state:-?}, $done_n of $want steps done"
  case "$state" in done|failed|aborted|rollback-failed) break ;; esac
  if [ -z "$killed" ] && [ "$done_n" -ge $((want / 3)) ]; then
    leader=$(any members --json | jq -r '.[] | select(.leader) | .id' 2>/dev/null || true)
    if [ -n "$leader" ]; then
      say "killing the servers' leader $leader (SIGKILL)"
      eval "kill -KILL \$pid_$leader"
      killed=$leader
      sleep 3
      say "starting $leader again"
      start_server "$leader"
    fi
  fi
  sleep 2
done
say "transaction $id is $state after $(echo "$(date +%s.%N) - $upgrade_t0" | bc | cut -d. -f1) s"
for n in n1 n2 n3; do
  note=""; [ "$n" = "$killed" ] && note=" (since its restart)"
  say "$n: $(usage $n), $(polls $n | awk '{printf "%d", $1}' | grep . || echo 0) client polls served as leader$note"
done
any upgrade status "$id" > "$dir/status.txt" || true
head -5 "$dir/status.txt"

#!/usr/bin/env bash
# Baton upgrading itself: three agents of Baton 1.0.0 (protocol 1) replace
# their own binary with Baton 2.0.0 (protocol 2), one at a time, restarting
# into it with "restart": "self". The cluster speaks protocol 1 until the
# last node is done, then 2. Everything it starts is stopped at the end.
# Usage: [PORT_BASE=7000] scripts/demo-self.sh OLD_BINARY NEW_BINARY
set -euo pipefail
. "$(dirname "$0")/ports.sh"
base=$(pick_port_base)
old=$(realpath "$1")
new=$(realpath "$2")
dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo-self.XXXXXX")
pids=()
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo stopped; logs in $dir"
}
trap cleanup EXIT
trap "exit 130" INT TERM

cli() { "$old" "$@"; }   # the client: any build talks to any agent
export BATON_ADDR=127.0.0.1:$((base + 20))

start_agent() { # node extra...
  local n=$1 i=${1#n}; shift
  "$dir/$n/bin/baton" agent --id "$n" --data-dir "$dir/$n/data" --raft-addr "127.0.0.1:$((base + 1 + i * 10))" \
    --http-addr "127.0.0.1:$((base + i * 10))" --config "$dir/$n/agent.json" --raft-multiplier 0.3 --allow-http-artifacts "$@" \
    >>"$dir/$n/agent.log" 2>&1 &
  pids+=($!)
}

wait_for() {
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what; logs in $dir" >&2; exit 1
}

say "Three agents of $("$old" version)"
for n in n1 n2 n3; do
  mkdir -p "$dir/$n/bin"
  install -m 0755 "$old" "$dir/$n/bin/baton"
  install -m 0755 "$old" "$dir/$n/bin/baton-previous"
  b="$dir/$n/bin/baton"
  cat > "$dir/$n/agent.json" <<CFG
{"upgrade": {
  "install":  "install -m 0755 \"\$BATON_ARTIFACT_PATH\" $b.new && mv $b.new $b",
  "restart":  "self",
  "rollback": "install -m 0755 $dir/$n/bin/baton-previous $b.new && mv $b.new $b",
  "timeout":  "60s"}}
CFG
done
start_agent n1 --bootstrap
wait_for "n1 to lead" cli leader --addr 127.0.0.1:$((base + 10))
start_agent n2 --join 127.0.0.1:$((base + 10))
start_agent n3 --join 127.0.0.1:$((base + 10))
wait_for "three members" sh -c "[ \$('$old' members --json | grep -c '\"id\"') -eq 3 ]"
cli members

sum=$(sha256sum "$new" | cut -d' ' -f1)
# Agents fetch artifacts only over http(s): serve the new build on loopback
# (plain http, which the agents allow with --allow-http-artifacts).
mkdir -p "$dir/artifacts"
cp "$new" "$dir/artifacts/baton-2.0.0"
python3 -m http.server --bind 127.0.0.1 --directory "$dir/artifacts" $((base + 5)) >"$dir/artifacts.log" 2>&1 &
pids+=($!)
wait_for "the artifact server" curl -fsI "http://127.0.0.1:$((base + 5))/baton-2.0.0"
say "Upgrading in place to $("$new" version)"
txn=$(cli upgrade start --version 2.0.0 --artifact "http://127.0.0.1:$((base + 5))/baton-2.0.0" --sha256 "$sum" --strategy secondaries-first)
echo "transaction $txn"

# Show the cluster's versions and active protocol at every change.
(
  last=""
  for _ in $(seq 1 1200); do
    now=$(cli members 2>/dev/null | awk 'NR>1 && $1 ~ /^n/ {printf "%s=%s(p%s) ", $1, $4, $5} /active protocol/ {printf "| active protocol %s", $3}')
    if [ -n "$now" ] && [ "$now" != "$last" ]; then echo "  $now"; last=$now; fi
    case "$(cli upgrade status "$txn" --json 2>/dev/null | sed -n 's/^  "state": "\(.*\)",/\1/p')" in
      done|aborted|failed) exit 0 ;;
    esac
    sleep 0.2
  done
) &
poller=$!
status=0
cli upgrade status "$txn" --watch >/dev/null || status=$?
wait "$poller" || true

say "Final state"
cli members
exit $status

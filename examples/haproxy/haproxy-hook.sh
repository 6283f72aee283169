#!/usr/bin/env bash
# Baton hooks that let a ring upgrade drive HAProxy (docs/gateway.md, "HAProxy"):
#   haproxy-hook.sh drain    take this node's server out of HAProxy's rotation:
#                            state drain (no new requests), wait until it has no
#                            session left, then state maint
#   haproxy-hook.sh health   check the local service (SERVICE_CHECK), then, inside
#                            a step, put the server back (state ready) and wait
#                            until HAProxy reports it UP
# Environment:
#   HAPROXY_RUNTIME        HAProxy's runtime API: a unix socket path (spoken to
#                          with socat) or HOST:PORT of a TCP stats socket
#   HAPROXY_BACKEND        the backend holding the node's server
#   HAPROXY_SERVER         the server's name (default: $BATON_NODE_ID)
#   SERVICE_CHECK          command that exits 0 when the local service answers
#   HAPROXY_DRAIN_TIMEOUT  seconds to wait for sessions to end, and for UP (30)
set -euo pipefail
runtime=${HAPROXY_RUNTIME:?HAPROXY_RUNTIME: the runtime API socket or HOST:PORT}
backend=${HAPROXY_BACKEND:?HAPROXY_BACKEND: the backend of this node}
server=${HAPROXY_SERVER:-${BATON_NODE_ID:?BATON_NODE_ID or HAPROXY_SERVER: the server name}}
timeout=${HAPROXY_DRAIN_TIMEOUT:-30}

# api COMMAND: one command to HAProxy's runtime API; its answer on stdout.
api() {
  case "$runtime" in
    /*) printf '%s\n' "$1" | socat -t 5 stdio "unix-connect:$runtime" ;;
    *)  exec 3<>"/dev/tcp/${runtime%:*}/${runtime##*:}"
        printf '%s\n' "$1" >&3
        cat <&3
        exec 3<&- ;;
  esac
}

# set_state STATE: ready, drain or maint; HAProxy answers nothing on success.
set_state() {
  local answer
  answer=$(api "set server $backend/$server state $1")
  if [ -n "$answer" ]; then
    echo "haproxy: set server $backend/$server state $1: $answer" >&2
    exit 1
  fi
  echo "haproxy: $backend/$server is $1"
}

# stat FIELD: the server's field of `show stat` (scur: current sessions,
# status: UP, DOWN, DRAIN, MAINT...).
stat() {
  api "show stat" | awk -F, -v be="$backend" -v sv="$server" -v field="$1" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == field || $i == "# " field) col = i; next }
    $1 == be && $2 == sv { print $col }'
}

# wait_until DESCRIPTION COMMAND...: at most $timeout seconds.
wait_until() {
  local what=$1; shift
  for _ in $(seq 1 $((timeout * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  echo "haproxy: $backend/$server: $what not within ${timeout}s" >&2
  return 1
}

no_sessions() { [ "$(stat scur)" = 0 ]; }
is_up() { case "$(stat status)" in UP*) return 0 ;; esac; return 1; }

case "${1:-}" in
drain)
  set_state drain
  wait_until "the last session to end" no_sessions
  set_state maint ;;
health)
  if [ -n "${SERVICE_CHECK:-}" ]; then sh -c "$SERVICE_CHECK"; fi
  # Outside a step (a probe of the node's health) the server stays as the
  # operator left it.
  if [ -n "${BATON_TXN_ID:-}" ]; then
    set_state ready
    wait_until "HAProxy to report the server UP" is_up
  fi ;;
*)
  echo "usage: haproxy-hook.sh drain|health" >&2
  exit 2 ;;
esac

#!/bin/sh
# Baton's hooks for a Redis 7 primary with replicas, one script for all of
# them: the hook's name is the first argument. Each node's agent runs it
# from its config file (agent.hcl.in) with REDIS_DEMO_DIR set to the demo's
# directory. Nodes are found by their Baton member id: each member's label
# redis_addr, read from BATON_MEMBERS_FILE with jq.
#
# The "upgrade" is a restart of redis-server with a version file, as there
# is no second Redis version to install; everything else is what a real
# deployment does:
#   role     ROLE: master is primary, anything else replica
#   lag      bytes of replication stream this replica has not processed:
#            the master's master_repl_offset minus its slave_repl_offset
#   demote   FAILOVER TO the new primary: Redis pauses writers, waits until
#            the target has every write, then swaps the two roles itself, so
#            no acknowledged write is lost and promote is not needed
#   promote  REPLICAOF NO ONE (used only without demote)
#   follow   REPLICAOF the new primary
# demote, promote and follow are idempotent: Baton may run them again.
set -eu
hook=$1
dir=${REDIS_DEMO_DIR:?REDIS_DEMO_DIR is not set}
node=$BATON_NODE_ID
d="$dir/$node"

# addr_of ID: the redis_addr label of member ID.
addr_of() {
  jq -er --arg id "$1" '.[] | select(.id == $id) | .labels.redis_addr' "$BATON_MEMBERS_FILE"
}
# my_port: this node's Redis port, from its own file (the version hook
# runs at agent start, before there is a members file).
my_port() { cat "$d/redis.port"; }
cli() { redis-cli -p "$(my_port)" "$@"; }
info() { cli info replication | tr -d '\r' | sed -n "s/^$1:\(.*\)/\1/p"; }
role() { [ "$(cli role | head -1)" = master ] && echo primary || echo replica; }

start_redis() { # [MASTER_HOST MASTER_PORT]
  set -- ${1:+--replicaof "$1" "$2"}
  redis-server --port "$(my_port)" --bind 127.0.0.1 --daemonize yes --pidfile "$d/redis.pid" \
    --logfile "$d/redis.log" --dir "$d" --save "" --appendonly no "$@"
}

case "$hook" in
version) cat "$d/version" ;;
drain)   echo "$node: clients only talk to the primary; nothing to drain" ;;
install) sleep 1; echo "$BATON_TARGET_VERSION" > "$d/version"; echo "$node: installed $BATON_TARGET_VERSION" ;;
rollback) echo "$BATON_TARGET_VERSION" > "$d/version" ;;
restart)
  cli shutdown nosave >/dev/null 2>&1 || true
  i=0; while cli ping >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if [ -n "$BATON_PRIMARY" ] && [ "$BATON_PRIMARY" != "$node" ]; then
    p=$(addr_of "$BATON_PRIMARY"); start_redis "${p%:*}" "${p#*:}"
  else
    start_redis
  fi
  echo "$node: redis-server restarted (primary ${BATON_PRIMARY:-unknown})" ;;
health)
  [ "$(cli ping)" = PONG ]
  # A replica serves only once it is in sync with its master.
  [ "$(role)" = primary ] || [ "$(info master_link_status)" = up ] ;;
role) role ;;
lag)
  if [ "$(role)" = primary ]; then echo 0; exit 0; fi
  mine=$(info slave_repl_offset)
  theirs=$(redis-cli -h "$(info master_host)" -p "$(info master_port)" info replication | tr -d '\r' |
    sed -n 's/^master_repl_offset:\(.*\)/\1/p')
  [ -n "$mine" ] && [ -n "$theirs" ] || { echo "no replication offsets: is the master up?" >&2; exit 1; }
  lag=$((theirs - mine)); [ $lag -ge 0 ] || lag=0
  echo $lag ;;
demote)
  if [ "$(role)" = replica ]; then echo "$node is already a replica"; exit 0; fi
  new=$(addr_of "$BATON_NEW_PRIMARY")
  out=$(cli failover to "${new%:*}" "${new#*:}" timeout 10000 2>&1)
  case "$out" in OK|*"already in progress"*) ;; *) echo "FAILOVER TO $new: $out" >&2; exit 1 ;; esac
  i=0
  while [ $i -lt 150 ]; do
    if [ "$(role)" = replica ] && [ "$(info master_failover_state)" = no-failover ]; then
      echo "$node handed the primary role to $BATON_NEW_PRIMARY ($new)"; exit 0
    fi
    sleep 0.1; i=$((i+1))
  done
  echo "FAILOVER TO $new did not complete: $node is still $(role)" >&2; exit 1 ;;
promote) cli replicaof no one ;;
follow)
  [ "$BATON_PRIMARY" != "$node" ] || exit 0
  p=$(addr_of "$BATON_PRIMARY")
  cli replicaof "${p%:*}" "${p#*:}"
  echo "$node follows $BATON_PRIMARY ($p)" ;;
*) echo "unknown hook $hook" >&2; exit 2 ;;
esac

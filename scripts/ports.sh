# Sourced by the demo and cluster scripts: chooses the loopback ports.
#
# PORT_BASE, when set, is used as it is. Otherwise the first base among
# 7000, 17000, 27000, ... whose ports base..base+99 nobody listens on is
# chosen, so a demo never collides with another one (or anything else) that
# runs on the machine. Node N uses base+10*N (HTTP) and base+10*N+1 (Raft).
port_in_use() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port_base() {
  if [ -n "${PORT_BASE:-}" ]; then
    case "$PORT_BASE" in
      ''|*[!0-9]*) echo "PORT_BASE=$PORT_BASE: want a port number such as 7000" >&2; exit 2 ;;
    esac
    if [ "$PORT_BASE" -lt 1024 ] || [ "$PORT_BASE" -gt 65400 ]; then
      echo "PORT_BASE=$PORT_BASE: want a number between 1024 and 65400" >&2; exit 2
    fi
    echo "$PORT_BASE"; return
  fi
  local base p busy
  for base in 7000 17000 27000 37000 47000; do
    busy=
    for p in $(seq "$base" $((base + 99))); do
      if port_in_use "$p"; then busy=$p; break; fi
    done
    if [ -z "$busy" ]; then echo "$base"; return; fi
  done
  echo "no free block of 100 ports found; set PORT_BASE" >&2
  exit 1
}

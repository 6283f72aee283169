package procs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// hookScript is the upgrade hook every test agent runs. It keeps each
// node's installed version in a file, appends what it did and when to a
// shared journal, and fails or slows down when the test drops control
// files into the state directory:
//
//	fail-install-NODE   install exits 3
//	fail-rollback-NODE  rollback exits 4
//	install-sleep       seconds install takes (default 0.2)
//	unhealthy-NODE      health exits 1
//
// The chaos suite adds faults drawn at a set probability. Each hook run
// draws a number in 0..99 from the cksum of fault-seed, the node, the
// transaction, the attempt and the hook, so the faults follow from the seed
// and the transactions, not from the shell's randomness:
//
//	fail-percent        install fails (exit 3) when the draw is below it
//	hang-percent        install hangs when the draw is in the next band,
//	                    health hangs when its own draw is below half of it
//	hang-seconds        how long a hang sleeps (default 30)
//	binary-upgrades     restart asks the harness to restart the agent with
//	                    the build of the target version (restart-request-NODE)
//	                    and waits, boundedly, until running-NODE names it
//
// A hanging install may be killed at its hook timeout; a watcher in its own
// session then journals "killed", so the journal keeps when the install
// really ended.
//
// With Hooks.Service, every node also has the service-role hooks of a fake
// service whose roles live in files (docs/switchover.md):
//
//	role-NODE           the node's role: primary or replica (default replica)
//	lag-NODE            what the lag hook prints (default 0)
//	unhealthy-probe-NODE  health exits 1 when run outside a step (a probe)
//	fail-promote-NODE   promote exits 3
//	fail-demote-NODE    demote exits 3
//	demote-hands-over   demote makes BATON_NEW_PRIMARY the primary itself,
//	                    as Redis's FAILOVER TO does
//	role-sleep, promote-sleep, demote-sleep, follow-sleep
//	                    seconds the hook takes (default 0)
//
// Promote, demote and follow journal their begin and end like the step's
// hooks, promote a "lag" line with the node's lag as it starts, and each
// change of a role file a "role" line with the new role, so the journal
// holds the service's role history.
const hookScript = `#!/bin/sh
state="$1"; hook="$2"; node="$BATON_NODE_ID"
now() { date +%s.%N; }
log() { echo "$1 $hook $node ${BATON_TXN_ID:--} ${BATON_ATTEMPT:-0} $(now) ${BATON_TARGET_VERSION:--}" >> "$state/journal"; }
roll() {
  printf '%s %s %s %s %s' "$(cat "$state/fault-seed" 2>/dev/null)" "$node" "$BATON_TXN_ID" "$BATON_ATTEMPT" "$1" |
    cksum | { read -r sum rest; echo $((sum % 100)); }
}
setting() { cat "$state/$1" 2>/dev/null || echo "$2"; }
# setrole NODE ROLE writes the fake service's role file of NODE and
# journals the change, under a lock so that the journal's order is the
# order of the changes.
setrole() {
  (
    flock 9
    if [ "$(cat "$state/role-$1" 2>/dev/null || echo replica)" != "$2" ]; then
      echo "$2" > "$state/role-$1.tmp" && mv "$state/role-$1.tmp" "$state/role-$1"
      echo "role $hook $1 ${BATON_TXN_ID:--} 0 $(now) $2" >> "$state/journal"
    fi
  ) 9>>"$state/role.lock"
}
hang() {
  if [ "$hook" = install ]; then
    setsid "$0" "$state" __watch $$ </dev/null >/dev/null 2>&1 &
    watched=1
  fi
  sleep "$(setting hang-seconds 30)"
}
case "$hook" in
__watch)
  pid="$3"; i=0
  # Alive: the process exists and is not a zombie waiting to be reaped.
  while [ -r "/proc/$pid/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null && [ $i -lt 3000 ]; do
    sleep 0.05; i=$((i+1))
  done
  [ -e "$state/ended-$pid" ] || echo "killed install $node $BATON_TXN_ID $BATON_ATTEMPT $(now) $BATON_TARGET_VERSION" >> "$state/journal"
  rm -f "$state/ended-$pid" ;;
install)
  log begin
  if [ -e "$state/fail-install-$node" ]; then echo "disk full on $node" >&2; log fail; exit 3; fi
  draw=$(roll install); fail=$(setting fail-percent 0); hangp=$(setting hang-percent 0)
  if [ "$draw" -lt "$fail" ]; then echo "injected install failure on $node" >&2; log fail; exit 3; fi
  if [ "$draw" -lt $((fail + hangp)) ]; then hang; fi
  sleep "$(setting install-sleep 0.2)"
  echo "$BATON_TARGET_VERSION" > "$state/version-$node"
  [ -z "$watched" ] || touch "$state/ended-$$"
  log end ;;
rollback)
  log begin
  if [ -e "$state/fail-rollback-$node" ]; then echo "rollback script failed on $node" >&2; log fail; exit 4; fi
  echo "$BATON_TARGET_VERSION" > "$state/version-$node"
  log end ;;
version)
  cat "$state/version-$node" 2>/dev/null || cat "$state/initial-version" ;;
health)
  [ ! -e "$state/unhealthy-$node" ] || exit 1
  [ -n "$BATON_TXN_ID" ] || [ ! -e "$state/unhealthy-probe-$node" ] || { echo "$node serves no clients" >&2; exit 1; }
  if [ -n "$BATON_TXN_ID" ] && [ "$(roll health)" -lt $(($(setting hang-percent 0) / 2)) ]; then hang; fi ;;
restart)
  log begin
  if [ -e "$state/binary-upgrades" ]; then
    i=0
    while [ "$(cat "$state/running-$node" 2>/dev/null)" != "$BATON_TARGET_VERSION" ] && [ $i -lt 300 ]; do
      echo "$BATON_TARGET_VERSION" > "$state/restart-request-$node"
      sleep 0.1; i=$((i+1))
    done
  fi
  log end ;;
drain) log begin; log end ;;
role)
  sleep "$(setting role-sleep 0)"
  cat "$state/role-$node" 2>/dev/null || echo replica ;;
lag)
  cat "$state/lag-$node" 2>/dev/null || echo 0 ;;
promote)
  log begin
  sleep "$(setting promote-sleep 0)"
  echo "lag promote $node $BATON_TXN_ID 0 $(now) $(cat "$state/lag-$node" 2>/dev/null || echo 0)" >> "$state/journal"
  if [ -e "$state/fail-promote-$node" ]; then echo "cannot promote $node" >&2; log fail; exit 3; fi
  setrole "$node" primary
  log end ;;
demote)
  log begin
  sleep "$(setting demote-sleep 0)"
  if [ -e "$state/fail-demote-$node" ]; then echo "cannot demote $node" >&2; log fail; exit 3; fi
  setrole "$node" replica
  if [ -e "$state/demote-hands-over" ] && [ -n "$BATON_NEW_PRIMARY" ]; then setrole "$BATON_NEW_PRIMARY" primary; fi
  log end ;;
follow)
  log begin
  sleep "$(setting follow-sleep 0)"
  [ "$node" = "$BATON_PRIMARY" ] || setrole "$node" replica
  log end ;;
esac
`

// Hooks is a test hook set: a state directory and one config per node.
type Hooks struct {
	Dir string
	// Timeout bounds each hook run ("60s" when empty). Set it before the
	// first ConfigFor.
	Timeout string
	// Service gives every node the fake service's role hooks (role,
	// promote, demote, follow, lag). Set it before the first ConfigFor.
	Service bool
	// ServiceAddr, when it names a node, is that node's service_addr in
	// its config. Set it before the first ConfigFor.
	ServiceAddr map[string]string
}

// NewHooks writes the hook script into dir (created if needed) with the
// given initial version for every node.
func NewHooks(dir, initialVersion string) (*Hooks, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "hook.sh"), []byte(hookScript), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "initial-version"), []byte(initialVersion+"\n"), 0o644); err != nil {
		return nil, err
	}
	return &Hooks{Dir: dir}, nil
}

// ConfigFor writes (once) and returns the agent config file of node id.
func (h *Hooks) ConfigFor(id string) string {
	path := filepath.Join(h.Dir, "agent-"+id+".json")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := func(hook string) string { return fmt.Sprintf("%s %s %s", filepath.Join(h.Dir, "hook.sh"), h.Dir, hook) }
	upgrade := map[string]any{
		"drain": cmd("drain"), "install": cmd("install"), "restart": cmd("restart"), "health": cmd("health"),
		"version": cmd("version"), "rollback": cmd("rollback"), "timeout": h.timeout(),
	}
	if h.Service {
		for _, hook := range []string{"role", "promote", "demote", "follow", "lag"} {
			upgrade[hook] = cmd(hook)
		}
	}
	cfg := map[string]any{"upgrade": upgrade}
	if addr := h.ServiceAddr[id]; addr != "" {
		cfg["service_addr"] = addr
	}
	b, _ := json.Marshal(cfg)
	_ = os.WriteFile(path, b, 0o644)
	return path
}

func (h *Hooks) timeout() string {
	if h.Timeout == "" {
		return "60s"
	}
	return h.Timeout
}

// Set creates a control file (fail-install-n2, install-sleep, …) with
// content.
func (h *Hooks) Set(name, content string) error {
	return os.WriteFile(filepath.Join(h.Dir, name), []byte(content), 0o644)
}

// Clear removes a control file.
func (h *Hooks) Clear(name string) error {
	err := os.Remove(filepath.Join(h.Dir, name))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

// Version is the version the hooks last installed on node id.
func (h *Hooks) Version(id string) string {
	b, err := os.ReadFile(filepath.Join(h.Dir, "version-"+id))
	if err != nil {
		b, _ = os.ReadFile(filepath.Join(h.Dir, "initial-version"))
	}
	return strings.TrimSpace(string(b))
}

// HookEvent is one line of the hook journal.
type HookEvent struct {
	Kind    string // begin, end, fail, or killed (a hanging install killed at its timeout)
	Hook    string
	Node    string
	Txn     string
	Attempt uint64
	At      time.Time
	Target  string
}

// Journal reads the hook journal.
func (h *Hooks) Journal() ([]HookEvent, error) {
	f, err := os.Open(filepath.Join(h.Dir, "journal"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []HookEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 7 {
			return nil, fmt.Errorf("hook journal: malformed line %q", sc.Text())
		}
		attempt, _ := strconv.ParseUint(fs[4], 10, 64)
		secs, err := strconv.ParseFloat(fs[5], 64)
		if err != nil {
			return nil, fmt.Errorf("hook journal: bad time in %q", sc.Text())
		}
		at := time.Unix(0, int64(secs*1e9))
		out = append(out, HookEvent{Kind: fs[0], Hook: fs[1], Node: fs[2], Txn: fs[3], Attempt: attempt, At: at, Target: fs[6]})
	}
	return out, sc.Err()
}

// SetRole sets the fake service's role of node id (primary or replica), as
// if the service had changed it, and journals it.
func (h *Hooks) SetRole(id, role string) error {
	if err := h.Set("role-"+id, role+"\n"); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(h.Dir, "journal"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "role set %s - 0 %.9f %s\n", id, float64(time.Now().UnixNano())/1e9, role)
	return err
}

// Role is the fake service's role of node id: primary or replica.
func (h *Hooks) Role(id string) string {
	b, err := os.ReadFile(filepath.Join(h.Dir, "role-"+id))
	if err != nil {
		return "replica"
	}
	return strings.TrimSpace(string(b))
}

package testutil

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
//	install-sleep       seconds install takes (default 0.2)
//	unhealthy-NODE      health exits 1
const hookScript = `#!/bin/sh
state="$1"; hook="$2"; node="$BATON_NODE_ID"
now() { date +%s.%N; }
log() { echo "$1 $hook $node $BATON_TXN_ID $BATON_ATTEMPT $(now) $BATON_TARGET_VERSION" >> "$state/journal"; }
case "$hook" in
install)
  log begin
  if [ -e "$state/fail-install-$node" ]; then echo "disk full on $node" >&2; log fail; exit 3; fi
  sleep "$(cat "$state/install-sleep" 2>/dev/null || echo 0.2)"
  echo "$BATON_TARGET_VERSION" > "$state/version-$node"
  log end ;;
rollback)
  log begin
  echo "$BATON_TARGET_VERSION" > "$state/version-$node"
  log end ;;
version)
  cat "$state/version-$node" 2>/dev/null || cat "$state/initial-version" ;;
health)
  [ ! -e "$state/unhealthy-$node" ] ;;
drain|restart) log begin; log end ;;
esac
`

// Hooks is a test hook set: a state directory and one config per node.
type Hooks struct {
	Dir string
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
	cfg := map[string]any{"upgrade": map[string]any{
		"drain": cmd("drain"), "install": cmd("install"), "restart": cmd("restart"), "health": cmd("health"),
		"version": cmd("version"), "rollback": cmd("rollback"), "timeout": "60s",
	}}
	b, _ := json.Marshal(cfg)
	_ = os.WriteFile(path, b, 0o644)
	return path
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
	Kind    string // begin, end or fail
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

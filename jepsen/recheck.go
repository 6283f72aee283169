package jepsen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/harness"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// runFile holds what a run knows beside its history, for Recheck.
const runFile = "run.json"

// runMeta is the part of the checkers' input that is not in the history
// files.
type runMeta struct {
	Final       []api.Txn     `json:"final"`
	Healed      time.Time     `json:"healed"`
	End         time.Time     `json:"end"`
	SettleBound time.Duration `json:"settle_bound"`
}

func writeMeta(dir string, in checker.Input) error {
	b, err := json.MarshalIndent(runMeta{Final: in.Final, Healed: in.Healed, End: in.End, SettleBound: in.SettleBound}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, runFile), b, 0o644)
}

// Recheck runs the checkers again over the files a run left in dir, so a
// failing run can be studied (and a checker's change tried) without running
// the cluster again. The snapshot check is read again from the agents'
// logs; the crash and stop checks, which need the live harness, are not.
func Recheck(dir string) ([]checker.Result, error) {
	var meta runMeta
	b, err := os.ReadFile(filepath.Join(dir, runFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", runFile, err)
	}
	in := checker.Input{Final: meta.Final, Healed: meta.Healed, End: meta.End, SettleBound: meta.SettleBound,
		InitialProtocol: 1, VisualizePath: filepath.Join(dir, "linearizability.html")}
	var ops []history.Op
	if err := readLines(filepath.Join(dir, history.OpsFile), func(raw []byte) error {
		var op history.Op
		if err := json.Unmarshal(raw, &op); err != nil {
			return err
		}
		if op.Type != history.Invoke {
			ops = append(ops, op)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	in.Ops = ops
	var events []history.Event
	if err := readLines(filepath.Join(dir, history.EventsFile), func(raw []byte) error {
		var e history.Event
		err := json.Unmarshal(raw, &e)
		events = append(events, e)
		return err
	}); err != nil {
		return nil, err
	}
	in.Commands = history.Commands(events)
	if err := readLines(filepath.Join(dir, history.LaunchesFile), func(raw []byte) error {
		var l history.Launch
		err := json.Unmarshal(raw, &l)
		in.Launches = append(in.Launches, l)
		return err
	}); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "cluster")
	if in.Hooks, err = (&procs.Hooks{Dir: filepath.Join(root, "hooks")}).Journal(); err != nil {
		return nil, err
	}
	logs, err := filepath.Glob(filepath.Join(root, "n*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(logs)
	tc := procs.NewClusterAt(root, "")
	paths := map[string]string{}
	for _, p := range logs {
		id := strings.TrimSuffix(filepath.Base(p), ".log")
		tc.AddAt(id, "", "")
		paths[id] = p
	}
	if in.Tenures, err = tc.Tenures(); err != nil {
		return nil, err
	}
	if in.Acks, err = harness.AcksFromLogs(paths); err != nil {
		return nil, err
	}
	if in.Late, err = harness.LateAnnouncementsFromLogs(paths); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(paths))
	for id := range paths {
		ids = append(ids, id)
	}
	if in.ServiceRequests, err = harness.ServiceRequestsFromLogs(harness.ServiceRequestLogs(root, ids)); err != nil {
		return nil, err
	}
	in.GatewayName = harness.GatewayName
	if err := readLines(filepath.Join(dir, "gateway-requests.jsonl"), func(raw []byte) error {
		var r procs.LoadRequest
		err := json.Unmarshal(raw, &r)
		in.GatewayRequests = append(in.GatewayRequests, r)
		return err
	}); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	snapshots, err := tc.Snapshots()
	if err != nil {
		return nil, err
	}
	return append(checker.Run(in), snapshotCheck(snapshots, meta.End)), nil
}

func readLines(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return sc.Err()
}

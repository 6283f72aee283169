package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// noopHooks is the agent config of every benchmark cluster: hooks that do
// nothing, and a version hook that prints the version asked for (the step
// is done only when it does). At agent start, with no step, it prints the
// initial version.
const noopHooks = `{"upgrade": {
  "drain": "true", "install": "true", "restart": "true", "health": "true",
  "version": "echo \"${BATON_TARGET_VERSION:-1.0.0}\"", "rollback": "true", "timeout": "60s"
}}`

// startNoopCluster starts n agents n1..n of bin with the no-op hooks, at
// log level info (what an operator runs), Raft timings scaled by
// multiplier, and waits until every agent sees all n members and a leader.
func startNoopCluster(t *T, bin string, n int, multiplier float64) *procs.Cluster {
	c := procs.NewCluster(t, bin)
	c.RaftMultiplier = multiplier
	cfg := filepath.Join(c.Root, "noop-hooks.json")
	if err := os.WriteFile(cfg, []byte(noopHooks), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ConfigFor = func(string) string { return cfg }
	first := c.Add("n1")
	first.Start("--bootstrap", "--log-level", "info")
	c.WaitMembers(first, 1, 30*time.Second)
	for i := 2; i <= n; i++ {
		c.Add(fmt.Sprintf("n%d", i)).Start("--join", first.HTTPAddr, "--log-level", "info")
	}
	for _, a := range c.Agents {
		c.WaitMembers(a, n, 60*time.Second)
	}
	return c
}

// leaderOf asks the live agents who leads, waiting up to timeout.
func leaderOf(t *T, c *procs.Cluster, timeout time.Duration) *procs.Agent {
	var leader *procs.Agent
	procs.Eventually(t, timeout, func() error {
		for _, a := range c.Agents {
			if a.Exited() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			h, err := a.Client().Health(ctx)
			cancel()
			if err == nil && h.RaftState == "Leader" {
				leader = a
				return nil
			}
		}
		return fmt.Errorf("no agent leads")
	})
	return leader
}

// startTxn starts an upgrade through a, retrying while leadership moves.
func startTxn(t *T, c *procs.Cluster, req api.StartRequest) api.Txn {
	var txn api.Txn
	procs.Eventually(t, 30*time.Second, func() error {
		for _, a := range c.Agents {
			if a.Exited() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			got, err := a.Client().StartUpgrade(ctx, req)
			cancel()
			if err != nil {
				return err
			}
			txn = got
			return nil
		}
		return fmt.Errorf("no agent is running")
	})
	return txn
}

// waitTxnEnd long-polls the live agents until transaction id is done or
// aborted (or failed, which a no-op run never should be), within timeout.
func waitTxnEnd(t *T, c *procs.Cluster, id string, timeout time.Duration) api.Txn {
	deadline := time.Now().Add(timeout)
	var index uint64
	var last error
	for time.Now().Before(deadline) {
		answered := false
		for _, a := range c.Agents {
			if a.Exited() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
			txn, idx, err := a.Client().Upgrade(ctx, id, api.Wait{Index: index, Wait: 5 * time.Second})
			cancel()
			if err != nil {
				last = err
				index = 0 // the next agent's index is its own
				continue
			}
			switch txn.State {
			case api.TxnDone, api.TxnAborted:
				return txn
			case api.TxnFailed:
				t.Fatalf("transaction %s failed: %s", id, txn.Reason)
			}
			index, answered = idx, true
			last = fmt.Errorf("transaction %s is %s (%s)", id, txn.State, txn.Reason)
			break // long-poll the same agent again
		}
		if !answered {
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Fatalf("transaction %s did not end within %s: %v", id, timeout, last)
	return api.Txn{}
}

// logEvent is one JSON line of an agent's log.
type logEvent struct {
	Agent  string
	Msg    string
	At     time.Time
	Fields map[string]any
}

func (e logEvent) str(key string) string {
	s, _ := e.Fields[key].(string)
	return s
}

// duration reads a duration field: hclog writes a time.Duration as its
// nanoseconds in JSON, and as text ("12ms") elsewhere.
func (e logEvent) duration(key string) (time.Duration, bool) {
	switch v := e.Fields[key].(type) {
	case float64:
		return time.Duration(v), true
	case string:
		d, err := time.ParseDuration(v)
		return d, err == nil
	}
	return 0, false
}

// readEvents reads every agent's log and returns its JSON lines in time
// order. The harness's own lines (a kill) carry "at" instead of
// "@timestamp".
func readEvents(c *procs.Cluster) ([]logEvent, error) {
	var out []logEvent
	for _, a := range c.Agents {
		f, err := os.Open(a.LogPath)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if len(line) == 0 || line[0] != '{' {
				continue
			}
			var fields map[string]any
			if json.Unmarshal(line, &fields) != nil {
				continue
			}
			e := logEvent{Agent: a.ID, Fields: fields}
			e.Msg, _ = fields["@message"].(string)
			ts, _ := fields["@timestamp"].(string)
			if ts == "" {
				ts, _ = fields["at"].(string)
			}
			if e.At, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				continue
			}
			out = append(out, e)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b logEvent) int { return a.At.Compare(b.At) })
	return out, nil
}

// firstAfter returns the first event after t (strictly) that matches.
func firstAfter(events []logEvent, t time.Time, match func(logEvent) bool) (logEvent, bool) {
	for _, e := range events {
		if e.At.After(t) && match(e) {
			return e, true
		}
	}
	return logEvent{}, false
}

// versionFor names the target version of the i-th benchmark transaction.
func versionFor(i int) string { return fmt.Sprintf("1.%d.0", i+1) }

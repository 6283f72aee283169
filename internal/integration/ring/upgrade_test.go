package ring

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/coordinator"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// span is when a node's step ran on it: from its first hook's begin to its
// last hook's end, from the hook journal's wall times.
type span struct{ from, to time.Time }

// spans reads each node's step span of transaction txn from the journal.
func spans(t *testing.T, hooks *procs.Hooks, txn string) map[string]span {
	t.Helper()
	events, err := hooks.Journal()
	require.NoError(t, err)
	out := map[string]span{}
	for _, e := range events {
		if e.Txn != txn || (e.Kind != "begin" && e.Kind != "end") {
			continue
		}
		s, ok := out[e.Node]
		if !ok || e.At.Before(s.from) {
			s.from = e.At
		}
		if e.At.After(s.to) {
			s.to = e.At
		}
		out[e.Node] = s
	}
	return out
}

// neighbours reports whether a and b are next to each other on ring.
func neighbours(ring []string, a, b string) bool {
	for i := range ring {
		j := (i + 1) % len(ring)
		if (ring[i] == a && ring[j] == b) || (ring[i] == b && ring[j] == a) {
			return a != b
		}
	}
	return false
}

// A ring upgrade of five nodes with max-parallel 2 goes around the ring as
// planned, and the hooks' own timestamps show no two ring neighbours
// upgrading at once (I9). While it runs, the ring cannot change.
func TestRingUpgradeNeverRunsNeighboursTogether(t *testing.T) {
	c, hooks := ringCluster(t, 5)
	require.NoError(t, hooks.Set("install-sleep", "0.5"))
	ring := []string{"n3", "n1", "n4", "n2", "n5"}
	res := c.Agent("n1").CLI("ring", "set", strings.Join(ring, ","))
	require.Equal(t, 0, res.Code, res.Stderr)

	plan := c.Agent("n2").CLI("upgrade", "plan", "--version", "2.0.0", "--strategy", "ring", "--max-parallel", "2", "--json")
	require.Equal(t, 0, plan.Code, plan.Stderr)
	var p api.Plan
	require.NoError(t, json.Unmarshal([]byte(plan.Stdout), &p))
	require.Equal(t, ring, p.Ring)
	var batches [][]string
	for _, b := range p.Batches {
		batches = append(batches, b.Nodes)
	}
	require.Equal(t, [][]string{{"n3", "n4"}, {"n5", "n1"}, {"n2"}}, batches, "every other node of the ring from its first, then the others")

	txn, err := call(t, func(ctx context.Context) (api.Txn, error) {
		return c.Agent("n4").Client().StartUpgrade(ctx, api.StartRequest{TargetVersion: "2.0.0", Strategy: "ring", MaxParallel: "2"})
	})
	require.NoError(t, err)
	require.Equal(t, ring, txn.Ring)

	// The ring is fixed while the transaction runs.
	refused := c.Agent("n5").CLI("ring", "set", "n1,n2,n3,n4,n5")
	require.Equal(t, 1, refused.Code, refused.Stdout)
	require.Contains(t, refused.Stderr, "transaction "+txn.ID)
	require.Equal(t, api.Ring{Order: ring, Explicit: true}, readRing(t, c.Agent("n5")), "the refused change changed nothing")

	done := c.WaitTxn(txn.ID, 3*time.Minute, api.TxnDone)
	for _, s := range done.Steps {
		require.Equal(t, api.StepDone, s.State, s.Node)
	}

	sp := spans(t, hooks, txn.ID)
	require.Len(t, sp, 5)
	for _, a := range ring {
		for _, b := range ring {
			if !neighbours(ring, a, b) {
				continue
			}
			overlap := sp[a].from.Before(sp[b].to) && sp[b].from.Before(sp[a].to)
			require.False(t, overlap, "ring neighbours %s (%s..%s) and %s (%s..%s) upgraded at once", a,
				sp[a].from.Format(time.RFC3339Nano), sp[a].to.Format(time.RFC3339Nano), b,
				sp[b].from.Format(time.RFC3339Nano), sp[b].to.Format(time.RFC3339Nano))
		}
	}
	for i := 1; i < len(batches); i++ {
		for _, prev := range batches[i-1] {
			for _, next := range batches[i] {
				require.True(t, sp[prev].to.Before(sp[next].from), "batch %d's %s began before batch %d's %s ended", i+1, next, i, prev)
			}
		}
	}

	// Once it has ended, the ring can change again.
	res = c.Agent("n5").CLI("ring", "set", "n1,n2,n3,n4,n5")
	require.Equal(t, 0, res.Code, res.Stderr)
}

// logLine is one JSON line of an agent's log.
type logLine struct {
	At       time.Time `json:"@timestamp"`
	Message  string    `json:"@message"`
	Gateway  string    `json:"gateway"`
	Gateways []string  `json:"gateways"`
	Nodes    []string  `json:"nodes"`
}

// agentLogs returns the lines of every agent's log whose message is msg.
func agentLogs(t *testing.T, c *procs.Cluster, msg string) []logLine {
	t.Helper()
	var out []logLine
	for _, a := range c.Agents {
		f, err := os.Open(a.LogPath)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == msg {
				out = append(out, l)
			}
		}
		f.Close()
	}
	return out
}

// A gateway that registers and never reports holds each step at most for
// --gateway-wait, with a warning naming it before the node's drain hook
// runs, and the leader expires it after --gateway-ttl.
func TestDeadGatewayIsWaitedForBoundedlyThenExpired(t *testing.T) {
	c, hooks := ringCluster(t, 3, "--gateway-wait", "1s", "--gateway-ttl", "8s")
	ctx := context.Background()
	_, err := c.Agent("n2").Client().RegisterGateway(ctx, "gw-dead")
	require.NoError(t, err)

	txn, err := call(t, func(ctx context.Context) (api.Txn, error) {
		return c.Agent("n3").Client().StartUpgrade(ctx, api.StartRequest{TargetVersion: "2.0.0", Strategy: "ring"})
	})
	require.NoError(t, err)
	// Every change of the transaction, its reason included, is a commit:
	// a long-polling watcher sees what it waits for.
	reasons := make(chan string, 64)
	go func() {
		defer close(reasons)
		cl := c.Agent("n2").Client()
		var index uint64
		for range 200 {
			got, idx, err := cl.Upgrade(ctx, txn.ID, api.Wait{Index: index, Wait: 10 * time.Second})
			if err != nil { // n2 may not have applied the start yet
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if got.State.Terminal() {
				return
			}
			index = idx
			if got.Reason != "" {
				select {
				case reasons <- got.Reason:
				default:
				}
			}
		}
	}()
	c.WaitTxn(txn.ID, 3*time.Minute, api.TxnDone)
	var waits []string
	for r := range reasons {
		if strings.HasPrefix(r, "for gateway") {
			waits = append(waits, r)
		}
	}
	require.NotEmpty(t, waits, "the transaction never said it waited for the gateway")
	for _, w := range waits {
		require.Regexp(t, `^for gateway\(s\) gw-dead to take n\d out of rotation \(step.begin at index \d+\)$`, w)
	}

	// Each step that began while the gateway was registered waited for
	// it, and was warned about before its drain hook ran.
	late := agentLogs(t, c, coordinator.LogGatewaysLate)
	require.NotEmpty(t, late, "no step waited for the dead gateway")
	events, err := hooks.Journal()
	require.NoError(t, err)
	for _, l := range late {
		require.Equal(t, []string{"gw-dead"}, l.Gateways)
		require.Len(t, l.Nodes, 1)
		for _, e := range events {
			if e.Txn == txn.ID && e.Node == l.Nodes[0] && e.Hook == "drain" && e.Kind == "begin" {
				require.True(t, l.At.Before(e.At), "%s's drain began at %s, before the wait ended at %s", e.Node,
					e.At.Format(time.RFC3339Nano), l.At.Format(time.RFC3339Nano))
			}
		}
	}

	procs.Eventually(t, time.Minute, func() error {
		list, _, err := c.Agent("n1").Client().Gateways(ctx, api.Wait{})
		if err != nil {
			return err
		}
		if len(list) > 0 {
			return fmt.Errorf("still registered: %+v", list)
		}
		return nil
	})
	expired := agentLogs(t, c, coordinator.LogGatewayExpired)
	require.Len(t, expired, 1)
	require.Equal(t, "gw-dead", expired[0].Gateway)
	require.ErrorIs(t, c.Agent("n3").Client().GatewaySeen(ctx, "gw-dead", 1), api.ErrNotFound, "an expired gateway must register again")
}

package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// smallSnapshots makes Raft snapshot after a few entries, check often, and
// keep almost no log behind a snapshot, so a node that misses a few dozen
// entries must catch up by InstallSnapshot.
var smallSnapshots = procs.SnapshotSettings{Threshold: 16, Interval: 100 * time.Millisecond, TrailingLogs: 4}

// snapshotCluster starts n agents with the test hooks and small snapshot
// settings, all at version 1.0.0.
func snapshotCluster(t *testing.T, n int) (*procs.Cluster, *procs.Hooks) {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.AgentArgs = smallSnapshots.Args()
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	c.ConfigFor = hooks.ConfigFor
	c.Start(n)
	return c, hooks
}

// consistentRead reads the members through a with ?consistent=true. The
// leader serves it after a Raft barrier, which is an entry of its own in
// the log: the tests move the log on with these, changing nothing.
func consistentRead(a *procs.Agent) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ms []api.Member
	_, err := a.Client().Do(ctx, http.MethodGet, "/v1/members", url.Values{"consistent": {"true"}}, nil, &ms)
	return err
}

// logLines counts the lines of an agent's log whose message is msg.
func logLines(a *procs.Agent, msg string) int {
	return strings.Count(procs.Tail(a.LogPath, 1<<30), `"@message":"`+msg+`"`)
}

// moveLogPastCompaction adds barrier entries through via until the
// leader's log shows that many more compactions (each deletes the entries
// a snapshot covers but the few trailing ones).
func moveLogPastCompaction(t *testing.T, via, leader *procs.Agent, compactions int) {
	t.Helper()
	want := logLines(leader, "compacting logs") + compactions
	procs.Eventually(t, time.Minute, func() error {
		for range 10 {
			if err := consistentRead(via); err != nil {
				return err
			}
		}
		if got := logLines(leader, "compacting logs"); got < want {
			return fmt.Errorf("%s compacted its log %d times, want %d", leader.ID, got, want)
		}
		return nil
	})
}

// snapshotsOf reads the agent's log for its snapshot activity.
func snapshotsOf(t *testing.T, a *procs.Agent) procs.SnapshotActivity {
	t.Helper()
	s, err := procs.SnapshotsFromLog(a.LogPath)
	require.NoError(t, err)
	return s
}

// apiState is what an agent's API says of the replicated state at one
// index: the catalogue, every transaction and the protocol.
type apiState struct {
	Index    uint64
	Members  []api.Member
	Upgrades []api.Txn
	Protocol api.ProtocolInfo
}

// readState reads a's local state: the three reads must answer at one
// index, or it reads again.
func readState(a *procs.Agent) (apiState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s apiState
	for range 20 {
		ms, i1, err := a.Client().Members(ctx, api.Wait{})
		if err != nil {
			return s, err
		}
		var txns []api.Txn
		i2, err := a.Client().Do(ctx, http.MethodGet, "/v1/upgrades", nil, nil, &txns)
		if err != nil {
			return s, err
		}
		p, i3, err := a.Client().Protocol(ctx, api.Wait{})
		if err != nil {
			return s, err
		}
		if i1 == i2 && i2 == i3 {
			for i := range ms {
				ms[i].Leader = false // each agent's own view of who leads, not replicated state
			}
			return apiState{Index: i1, Members: ms, Upgrades: txns, Protocol: p}, nil
		}
	}
	return s, fmt.Errorf("%s's state kept moving between reads", a.ID)
}

// requireSameState waits until want and got answer at the same index and
// requires that their states are then equal, and returns it.
func requireSameState(t *testing.T, want, got *procs.Agent) apiState {
	t.Helper()
	var a, b apiState
	procs.Eventually(t, time.Minute, func() error {
		var err error
		if a, err = readState(want); err != nil {
			return err
		}
		if b, err = readState(got); err != nil {
			return err
		}
		if a.Index != b.Index {
			return fmt.Errorf("%s is at index %d, %s at %d", want.ID, a.Index, got.ID, b.Index)
		}
		return nil
	})
	if !reflect.DeepEqual(a, b) {
		require.Equal(t, a, b, "%s and %s disagree at index %d", want.ID, got.ID, a.Index)
	}
	return a
}

// eventsOf returns every command event a holds, oldest first.
func eventsOf(t *testing.T, a *procs.Agent) []api.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []api.Event
	var after uint64
	for {
		page, err := a.Client().Events(ctx, after, 0)
		require.NoError(t, err)
		if len(page.Events) == 0 {
			return out
		}
		for _, e := range page.Events {
			if e.Type.IsCommand() {
				out = append(out, e)
			}
		}
		after = page.Next
	}
}

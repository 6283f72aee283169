package node

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a log sink safe for the agent's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFollowerStopsOnAnEntryItCannotApply: a follower whose build cannot
// apply a committed entry used to return the error inside the apply result,
// which Raft drops on followers: the replica went on without the entry and
// nothing said so. Now it stops, naming the entry, and the leader (whose
// build applied it) goes on.
func TestFollowerStopsOnAnEntryItCannotApply(t *testing.T) {
	one := fsm.ProtocolRange{Min: 1, Max: 1}
	// The leader's state machine speaks protocol 2 (it registers protocol
	// 1, so the cluster's active protocol stays 1 and the follower may
	// join); the follower's speaks only 1.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Raft's default timeouts (multiplier 1): the entry must commit under
	// one leader, and a loaded machine makes shorter ones flap.
	leader := registeredLeader(t, ctx, Config{ID: "n1", Version: "1.0.0", Protocol: one, RaftMultiplier: 1},
		func(a *Agent) {
			a.fsm = fsm.NewFor(0, 2)
			a.fsm.OnApply(a.recordApply)
			a.fsm.OnHalt(a.halt)
		})

	var logs lockedBuffer
	follower := serve(t, Config{ID: "n2", Join: []string{leader.cfg.HTTPAddr}, Version: "1.0.0", Protocol: one,
		RaftMultiplier: 1, Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})}, nil)
	require.NoError(t, follower.Register(ctx))
	procs.Eventually(t, 20*time.Second, func() error {
		var n int
		follower.FSM().View(func(s *fsm.State) { n = len(s.Members) })
		if n != 2 {
			return errString("follower has not applied both joins yet")
		}
		return nil
	})

	// A protocol-2 command, committed past the protocol gate.
	status := fsm.MemberStatus{ID: "n1", Build: fsm.BuildInfo{Version: "2.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 2}}}
	data, err := fsm.Encode(fsm.CmdMemberStatus, 2, time.Now(), status)
	require.NoError(t, err)
	f := leader.Raft().Apply(data, 10*time.Second)
	require.NoError(t, f.Error())
	res := f.Response().(*fsm.Result)
	require.NoError(t, res.Err, "the leader's build applies it")

	select {
	case err := <-follower.Fatal():
		require.ErrorContains(t, err, "cannot apply log entry")
		require.ErrorContains(t, err, "member.status")
		require.ErrorIs(t, err, fsm.ErrUnknownCommand)
	case <-time.After(30 * time.Second):
		t.Fatalf("the follower did not stop; its log:\n%s", logs.String())
	}
	require.Contains(t, logs.String(), LogCannotApply)
	halt := follower.FSM().Halted()
	require.NotNil(t, halt)
	require.Equal(t, res.Index, halt.Index)

	// The follower applies nothing after the entry.
	before := follower.FSM().Read()
	index, err := leader.Apply(ctx, fsm.CmdMemberReport, fsm.MemberReport{ID: "n1", Version: "1.0.1", Protocol: one})
	require.NoError(t, err)
	procs.Eventually(t, 20*time.Second, func() error {
		if follower.Raft().AppliedIndex() < index {
			return errString("the follower's Raft has not handed the report to its state machine yet")
		}
		return nil
	})
	require.Equal(t, before, follower.FSM().Read())
	var v string
	leader.FSM().View(func(s *fsm.State) { v = s.Members["n1"].Version })
	require.Equal(t, "1.0.1", v)
}

package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestStartRunsABarrierFirst(t *testing.T) {
	c := newFakeCluster(t, "n1", members(3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	_, err := co.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0"})
	require.NoError(t, err)
	require.Equal(t, 1, c.barriers, "one barrier per start")
}

func TestStartFailsWhenTheBarrierFails(t *testing.T) {
	c := newFakeCluster(t, "n1", members(3)...)
	c.barrierErr = fmt.Errorf("%w: leadership lost", api.ErrNoLeader)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	before := c.FSM().Read().Index

	_, err := co.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0"})
	require.ErrorIs(t, err, api.ErrNoLeader, "the barrier's error reaches the caller")
	st := c.FSM().Read()
	require.Empty(t, st.TxnList(), "nothing is started on a state that may be behind")
	require.Equal(t, before, st.Index, "nothing is applied")
}

// TestStartJudgesTheStateAfterTheBarrier: a leader just elected may not
// have applied a transaction its predecessor committed. The barrier applies
// it, and Start must see it.
func TestStartJudgesTheStateAfterTheBarrier(t *testing.T) {
	c := newFakeCluster(t, "n1", members(3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	c.onBarrier = func() {
		c.onBarrier = nil
		earlier := fsm.Txn{ID: "t-earlier", TargetVersion: "1.5.0", Strategy: "by-id", MaxParallel: 1,
			OnFailure: fsm.OnFailureHalt, StepTimeout: fsm.Duration(time.Minute), ProgressDeadline: fsm.Duration(time.Minute),
			Steps: []fsm.Step{{Node: "n2"}, {Node: "n3", Batch: 1}, {Node: "n1", Batch: 2}}}
		_, err := c.Apply(context.Background(), fsm.CmdTxnStart, fsm.TxnStart{Txn: earlier})
		require.NoError(t, err)
	}

	_, err := co.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0"})
	require.ErrorIs(t, err, fsm.ErrConflict)
	require.Contains(t, err.Error(), "transaction t-earlier is already running")
	require.Len(t, c.FSM().Read().TxnList(), 1, "only the earlier transaction exists")
}

// TestStartRefusesBadInput: every refusal wraps fsm.ErrInvalid, names the
// bad value, and changes nothing; the policy and artifact checks are the
// state machine's own, with its messages.
func TestStartRefusesBadInput(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		name string
		req  api.StartRequest
		want string
	}{
		{"no version", api.StartRequest{}, "invalid: a target version is required (--version)"},
		{"bad version", api.StartRequest{TargetVersion: "two"}, `invalid: version "two": want a version such as 2.0.0 or 2.1.0-rc.1`},
		{"unknown strategy", api.StartRequest{TargetVersion: "2.0.0", Strategy: "zigzag"},
			`invalid: unknown strategy "zigzag": valid strategies are ` + strings.Join(strategy.Names(), ", ")},
		{"bad policy", api.StartRequest{TargetVersion: "2.0.0", OnFailure: "pray"}, `invalid: on-failure "pray": want halt or rollback`},
		{"artifact without digest", api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "file:///b.tgz"},
			"invalid: an artifact's URL and its sha256 digest go together: give both or neither"},
		{"digest without artifact", api.StartRequest{TargetVersion: "2.0.0", ArtifactSHA256: sha},
			"invalid: an artifact's URL and its sha256 digest go together: give both or neither"},
		{"bad digest", api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "file:///b.tgz", ArtifactSHA256: "abc"},
			`invalid: sha256 "abc": want 64 lower-case hex digits`},
		{"bad max-parallel", api.StartRequest{TargetVersion: "2.0.0", MaxParallel: "0"},
			`invalid: max-parallel "0": must be a positive integer or a percentage like 25%`},
		{"bad step timeout", api.StartRequest{TargetVersion: "2.0.0", StepTimeout: "soon"},
			`invalid: step-timeout "soon": want a positive duration such as 10m`},
		{"step timeout over the ceiling", api.StartRequest{TargetVersion: "2.0.0", StepTimeout: "99999h"},
			`invalid: step-timeout "99999h": want at most 168h0m0s (7 days)`},
		{"progress deadline over the ceiling", api.StartRequest{TargetVersion: "2.0.0", ProgressDeadline: "169h"},
			`invalid: progress-deadline "169h": want at most 168h0m0s (7 days)`},
		{"200 KB version", api.StartRequest{TargetVersion: "2.0.0-" + strings.Repeat("a", 200<<10)},
			"invalid: version of 204806 bytes: want at most 128"},
		{"file artifact", api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "file:///etc/shadow", ArtifactSHA256: sha},
			`invalid: artifact URL "file:///etc/shadow": scheme "file" is not allowed: want http or https`},
		{"relative artifact", api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "../../etc/shadow", ArtifactSHA256: sha},
			`invalid: artifact URL "../../etc/shadow": want an absolute http or https URL with a host`},
		{"plain http artifact", api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "http://127.0.0.1/b.tgz", ArtifactSHA256: sha},
			`invalid: artifact URL "http://127.0.0.1/b.tgz": scheme "http" is not allowed: want https`},
		{"long artifact URL", api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "https://x/" + strings.Repeat("a", 3000), ArtifactSHA256: sha},
			"invalid: artifact URL of 3010 bytes: want at most 2048"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, "n1", members(3)...)
			co := New(c, newFakeNodes(), Options{Now: c.clock})
			before := c.FSM().Read().Index
			_, err := co.Start(context.Background(), tc.req)
			require.ErrorIs(t, err, fsm.ErrInvalid)
			require.EqualError(t, err, tc.want)
			_, err = co.Plan(context.Background(), tc.req)
			require.EqualError(t, err, tc.want, "plan refuses what start refuses")
			require.Equal(t, before, c.FSM().Read().Index, "a refused start changes nothing")
		})
	}
}

// overlapping is a strategy that plans its first node twice: a bug.
type overlapping struct{}

func (overlapping) Name() string    { return "test-overlapping" }
func (overlapping) Summary() string { return "plans its first node twice (a test's broken strategy)" }
func (overlapping) Order(in strategy.Input) ([]string, string, error) {
	return []string{in.Nodes[0].ID, in.Nodes[0].ID}, "broken on purpose", nil
}
func (overlapping) Batches(order []string, in strategy.Input, maxParallel int) ([][]string, error) {
	return [][]string{order}, nil
}

func init() { strategy.Register(overlapping{}) }

// TestABrokenStrategyIsAnInternalError: a strategy that breaks its
// contract is a bug of the server, not the request's fault, and nothing
// starts.
func TestABrokenStrategyIsAnInternalError(t *testing.T) {
	c := newFakeCluster(t, "n1", members(3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	_, err := co.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0", Strategy: "test-overlapping"})
	require.ErrorIs(t, err, strategy.ErrBrokenStrategy)
	require.NotErrorIs(t, err, fsm.ErrInvalid)
	require.Equal(t, http.StatusInternalServerError, rpc.StatusOf(err))
	require.Empty(t, c.FSM().Read().TxnList())
}

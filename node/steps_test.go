package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// TestCancelStepThroughTheAPIStopsTheInstallAndItsLogsAreServed: the node
// routes of protocol 3 on a real agent: a hanging install is stopped by a
// cancel, the attempt ends failed, and its hook output (stderr included)
// is served.
func TestCancelStepThroughTheAPIStopsTheInstallAndItsLogsAreServed(t *testing.T) {
	dir := t.TempDir()
	versionFile := filepath.Join(dir, "version")
	require.NoError(t, os.WriteFile(versionFile, []byte("1.0.0\n"), 0o644))
	installing := filepath.Join(dir, "installing")
	a := serve(t, Config{ID: "n1", Bootstrap: true, BuildVersion: "9.9.9", Protocol: fsm.ProtocolRange{Min: 2, Max: 3},
		Hooks: config.Hooks{
			Drain:   "echo draining; echo drain warning >&2",
			Install: "echo unpacking; echo low on disk >&2; touch " + installing + "; trap 'echo install got SIGTERM >&2; exit 143' TERM; while :; do sleep 0.05; done",
			Version: "cat " + versionFile, Timeout: time.Minute,
		}}, nil)
	procs.Eventually(t, 20*time.Second, func() error {
		if !a.IsLeader() {
			return errString("not leader yet")
		}
		return nil
	})
	// The leader's own calls: signed with its node key.
	client := a.client(a.cfg.HTTPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := client.CancelStep(ctx, "t-1", 1, "x")
	require.ErrorIs(t, err, api.ErrNotFound, "an attempt the node never began")

	// The node runs only a step its replica holds as committed.
	require.NoError(t, a.Register(ctx))
	_, err = a.Apply(ctx, fsm.CmdTxnStart, fsm.TxnStart{Txn: fsm.Txn{ID: "t-1", TargetVersion: "2.0.0", Strategy: "by-id",
		MaxParallel: 1, OnFailure: fsm.OnFailureHalt, StepTimeout: fsm.Duration(time.Minute), ProgressDeadline: fsm.Duration(time.Hour),
		AllowLeaderUpgrade: true, LeaderAtStart: "n1", Steps: []fsm.Step{{Node: "n1"}}}})
	require.NoError(t, err)
	_, err = a.Apply(ctx, fsm.CmdStepBegin, fsm.StepBegin{TxnID: "t-1", Node: "n1", Attempt: 1})
	require.NoError(t, err)

	_, err = client.RunStep(ctx, api.StepRequest{TxnID: "t-1", Node: "n1", Attempt: 1, TargetVersion: "2.0.0",
		FromVersion: "1.0.0", ProtocolVersion: 3, AllowLeader: true})
	require.NoError(t, err)
	procs.Eventually(t, 30*time.Second, func() error {
		_, err := os.Stat(installing)
		return err
	})

	st, err := client.CancelStep(ctx, "t-1", 1, "step timed out after 4s")
	require.NoError(t, err)
	require.Equal(t, "n1", st.Node)
	procs.Eventually(t, 30*time.Second, func() error {
		st, err = client.StepStatus(ctx, "t-1", 1)
		if err == nil && st.State == api.StepRunning {
			return errString("still running")
		}
		return err
	})
	require.Equal(t, api.StepFailed, st.State)
	require.Equal(t, "cancelled: step timed out after 4s; install was stopped while it ran, so the node may be partly installed", st.Error)

	logs, err := client.NodeStepLogs(ctx, "t-1")
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "n1", logs[0].Node)
	require.Equal(t, uint64(1), logs[0].Attempt)
	require.Len(t, logs[0].Hooks, 2)
	drain, install := logs[0].Hooks[0], logs[0].Hooks[1]
	require.Equal(t, "drain", drain.Hook)
	require.Equal(t, "draining\ndrain warning\n", drain.Output)
	require.Equal(t, "install", install.Hook)
	require.True(t, strings.HasPrefix(install.Output, "unpacking\nlow on disk\n"), install.Output)
	require.True(t, strings.HasSuffix(install.Output, "install got SIGTERM\n"), install.Output)
	require.False(t, install.Ended.Before(install.Began))
	require.NotZero(t, install.ExitCode)
}

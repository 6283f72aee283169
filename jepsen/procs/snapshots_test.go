package procs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSnapshotsFromLog(t *testing.T) {
	// Lines as an agent logs them with --log-format json, from two
	// processes (a restart in between), with lines that are not JSON.
	log := strings.Join([]string{
		startMarker + "baton agent --id n2",
		`{"@level":"info","@message":"raft started","@module":"baton","@timestamp":"2026-11-22T10:00:00.000000Z"}`,
		`{"@level":"info","@message":"starting snapshot up to","@module":"baton.raft","index":120}`,
		`{"@level":"info","@message":"snapshot complete up to","@module":"baton.raft","index":120}`,
		`{"@level":"info","@message":"installing snapshot on","@module":"baton.raft","peer":"n3","id":"2-230-1","size":9123}`,
		`{"@level":"error","@message":"failed to take snapshot","@module":"baton.raft","error":"nothing new to snapshot"}`,
		`{"@level":"info","@message":"installing snapshot on","@module":"baton.raft","peer":"n3","id":"2-230-1","size":9123}`,
		`{"@level":"error","@message":"failed to install snapshot","@module":"baton.raft","peer":"n3","id":"2-230-1","error":"dial tcp: connection refused"}`,
		`{"@level":"error","@message":"failed to send snapshot to","@module":"baton.raft","peer":{"Suffrage":0,"ID":"n3"},"error":"dial tcp: connection refused"}`,
		`{"@message":"killed by the test harness","at":"2026-11-22T10:00:05Z","id":"n2"}`,
		startMarker + "baton agent --id n2",
		`{"@level":"info","@message":"restored from snapshot","@module":"baton.raft","id":"2-120-1"}`,
		`{"@level":"info","@message":"copied to local snapshot","@module":"baton.raft","bytes":9300}`,
		`{"@level":"info","@message":"Installed remote snapshot","@module":"baton.raft"}`,
		`{"@level":"error","@message":"failed to install snapshot","@module":"baton.raft","error":"unsupported snapshot version 9"}`,
		`{"@level":"info","@message":"snapshot complete up to","@module":"baton.raft","index":330}`,
		`goroutine 1 [running]:`,
	}, "\n")
	path := filepath.Join(t.TempDir(), "n2.log")
	require.NoError(t, os.WriteFile(path, []byte(log+"\n"), 0o644))
	got, err := SnapshotsFromLog(path)
	require.NoError(t, err)
	require.Equal(t, SnapshotActivity{Taken: 2, SendsTried: 2, Installed: 1, Restored: 1, Failed: 3}, got,
		"a failed send counts once, not once per line the leader logs it with")

	none, err := SnapshotsFromLog(filepath.Join(t.TempDir(), "missing.log"))
	require.NoError(t, err)
	require.Zero(t, none)
}

func TestSnapshotSettingsArgs(t *testing.T) {
	require.Empty(t, SnapshotSettings{}.Args(), "zero keeps the agent's defaults")
	require.Equal(t, []string{"--raft-snapshot-threshold", "100", "--raft-snapshot-interval", "1s", "--raft-trailing-logs", "30"},
		SnapshotSettings{Threshold: 100, Interval: time.Second, TrailingLogs: 30}.Args())
	require.Equal(t, SnapshotSettings{Threshold: 8192, Interval: 2 * time.Minute, TrailingLogs: 30},
		SnapshotSettings{TrailingLogs: 30}.Effective())
}

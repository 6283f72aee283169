package node

import (
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/stretchr/testify/require"
)

func snapshotTestConfig(t *testing.T, s SnapshotConfig) Config {
	return Config{ID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:7071", HTTPAddr: "127.0.0.1:7070",
		Version: "1.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 1}, Snapshots: s}
}

func TestSnapshotSettingsReachRaft(t *testing.T) {
	a, err := New(snapshotTestConfig(t, SnapshotConfig{}))
	require.NoError(t, err)
	rc := a.raftConfig()
	require.Equal(t, uint64(8192), rc.SnapshotThreshold, "zero keeps hashicorp/raft's default")
	require.Equal(t, 120*time.Second, rc.SnapshotInterval)
	require.Equal(t, uint64(10240), rc.TrailingLogs)

	a, err = New(snapshotTestConfig(t, SnapshotConfig{Threshold: 100, Interval: 300 * time.Millisecond, TrailingLogs: 30}))
	require.NoError(t, err)
	rc = a.raftConfig()
	require.Equal(t, uint64(100), rc.SnapshotThreshold)
	require.Equal(t, 300*time.Millisecond, rc.SnapshotInterval)
	require.Equal(t, uint64(30), rc.TrailingLogs)
}

func TestSnapshotIntervalBelowRaftsFloorIsRefused(t *testing.T) {
	_, err := New(snapshotTestConfig(t, SnapshotConfig{Interval: time.Millisecond}))
	require.ErrorContains(t, err, "--raft-snapshot-interval 1ms: want at least 5ms")
}

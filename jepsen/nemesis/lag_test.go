package nemesis

import (
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

// The lag target is far enough that a snapshot must have compacted the log
// past the lagging node: past its last index by the trailing entries (any
// snapshot after that compacts past it) and two thresholds (the second
// guarantees a snapshot at the next check).
func TestLagTarget(t *testing.T) {
	s := procs.SnapshotSettings{Threshold: 100, Interval: time.Second, TrailingLogs: 30}
	require.Equal(t, uint64(52+30+200+1), lagTarget(52, s))
	require.Equal(t, uint64(30+200+1), lagTarget(0, s))
}

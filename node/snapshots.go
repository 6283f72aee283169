package node

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// SnapshotConfig is how often Raft snapshots the state machine and how
// much of its log it keeps behind a snapshot. A snapshot writes the whole
// state (8 MB at 10,000 members) to the data directory and lets Raft
// delete the log entries it covers; a follower whose next entry was
// deleted is sent the whole snapshot (InstallSnapshot) instead of the
// entries it missed.
type SnapshotConfig struct {
	// Threshold is how many new log entries make Raft take a snapshot at
	// its next check. Lower values keep the log and restarts short at the
	// cost of writing the whole state more often. Zero means
	// DefaultSnapshotThreshold.
	Threshold uint64
	// Interval is how often Raft checks the threshold, staggered at random
	// between one and two intervals so that servers do not all snapshot at
	// once. Zero means DefaultSnapshotInterval.
	Interval time.Duration
	// TrailingLogs is how many entries are kept behind a snapshot, so that
	// a follower that lags by fewer catches up from the log rather than by
	// a whole snapshot. Zero means DefaultTrailingLogs.
	TrailingLogs uint64
}

// hashicorp/raft's defaults, which Baton keeps unless told otherwise.
const (
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 120 * time.Second
	DefaultTrailingLogs      = 10240
)

// MinSnapshotInterval is the shortest interval Raft accepts.
const MinSnapshotInterval = 5 * time.Millisecond

// validate fills the defaults and refuses an interval Raft would refuse.
func (s *SnapshotConfig) validate() error {
	if s.Threshold == 0 {
		s.Threshold = DefaultSnapshotThreshold
	}
	if s.TrailingLogs == 0 {
		s.TrailingLogs = DefaultTrailingLogs
	}
	if s.Interval == 0 {
		s.Interval = DefaultSnapshotInterval
	}
	if s.Interval < MinSnapshotInterval {
		return fmt.Errorf("--raft-snapshot-interval %s: want at least %s (Raft's floor)", s.Interval, MinSnapshotInterval)
	}
	return nil
}

// apply sets the snapshot fields of a Raft configuration.
func (s SnapshotConfig) apply(rc *raft.Config) {
	rc.SnapshotThreshold = s.Threshold
	rc.SnapshotInterval = s.Interval
	rc.TrailingLogs = s.TrailingLogs
}

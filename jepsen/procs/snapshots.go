package procs

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"time"
)

// What hashicorp/raft (v1.7.3) logs about snapshots, word for word: the
// counts below are read from the agents' logs, which survive restarts
// (metrics do not).
const (
	logSnapshotTaken     = "snapshot complete up to"   // this server wrote a snapshot and compacted its log
	logSnapshotSend      = "installing snapshot on"    // the leader sends its snapshot to a follower behind its log
	logSnapshotInstalled = "Installed remote snapshot" // a follower received and restored the leader's snapshot
	logSnapshotRestored  = "restored from snapshot"    // a starting server loaded its own newest snapshot
	// A failed install is logged twice on the leader: as
	// logInstallFailed with the peer, then as "failed to send snapshot
	// to"; on the follower, as logInstallFailed without a peer.
	logInstallFailed = "failed to install snapshot"
)

// snapshotFailures are Raft's other errors about snapshots, each logged
// once per failure.
var snapshotFailures = map[string]bool{
	"failed to take snapshot":          true, // a snapshot this server could not take (the state machine refused, say)
	"failed to send snapshot to":       true, // the leader could not send one
	"installSnapshot rejected to":      true, // the follower refused one
	"failed to copy snapshot":          true, // a follower could not receive one
	"failed to receive whole snapshot": true,
	"failed to finalize snapshot":      true,
	"failed to restore snapshot":       true, // a follower, or a start, could not restore one
}

// SnapshotActivity is what one agent's log says Raft did with snapshots,
// over every process that wrote to it.
type SnapshotActivity struct {
	// Taken counts snapshots this server wrote (its log then compacted).
	Taken int `json:"taken"`
	// SendsTried counts the times this server, as leader, began to send
	// its snapshot to a follower whose next entry its log no longer held;
	// a send to a node that is down fails and is tried again.
	SendsTried int `json:"sends_tried"`
	// Installed counts snapshots this server received from a leader and
	// restored: it caught up by InstallSnapshot rather than from the log.
	Installed int `json:"installed"`
	// Restored counts starts that loaded the server's own newest snapshot.
	Restored int `json:"restored_at_start"`
	// Failed counts Raft's errors about snapshots: a snapshot not taken, a
	// send that failed or was refused, an install that did not complete.
	// Raft tries again.
	Failed int `json:"failed"`
}

// Add returns the sum of a and b.
func (a SnapshotActivity) Add(b SnapshotActivity) SnapshotActivity {
	return SnapshotActivity{Taken: a.Taken + b.Taken, SendsTried: a.SendsTried + b.SendsTried, Installed: a.Installed + b.Installed,
		Restored: a.Restored + b.Restored, Failed: a.Failed + b.Failed}
}

// SnapshotsFromLog reads an agent's JSON log (as Launch writes it) for
// Raft's snapshot lines. A missing log counts nothing.
func SnapshotsFromLog(path string) (SnapshotActivity, error) {
	var s SnapshotActivity
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string          `json:"@message"`
			Peer json.RawMessage `json:"peer"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Msg == logSnapshotTaken:
			s.Taken++
		case line.Msg == logSnapshotSend:
			s.SendsTried++
		case line.Msg == logSnapshotInstalled:
			s.Installed++
		case line.Msg == logSnapshotRestored:
			s.Restored++
		case line.Msg == logInstallFailed && line.Peer == nil, snapshotFailures[line.Msg]:
			s.Failed++
		}
	}
	return s, sc.Err()
}

// Snapshots reads every agent's log for its snapshot activity, by agent
// id.
func (c *Cluster) Snapshots() (map[string]SnapshotActivity, error) {
	out := map[string]SnapshotActivity{}
	for _, a := range c.Agents {
		s, err := SnapshotsFromLog(a.LogPath)
		if err != nil {
			return nil, err
		}
		out[a.ID] = s
	}
	return out, nil
}

// SnapshotSettings are an agent's Raft snapshot flags.
type SnapshotSettings struct {
	// Threshold is --raft-snapshot-threshold: new entries that make a
	// snapshot.
	Threshold uint64
	// Interval is --raft-snapshot-interval: how often Raft checks.
	Interval time.Duration
	// TrailingLogs is --raft-trailing-logs: entries kept behind a snapshot.
	TrailingLogs uint64
}

// The agent's defaults (hashicorp/raft's), which a zero field keeps.
const (
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 120 * time.Second
	DefaultTrailingLogs      = 10240
)

// Effective returns s with every zero field at the agent's default.
func (s SnapshotSettings) Effective() SnapshotSettings {
	if s.Threshold == 0 {
		s.Threshold = DefaultSnapshotThreshold
	}
	if s.Interval == 0 {
		s.Interval = DefaultSnapshotInterval
	}
	if s.TrailingLogs == 0 {
		s.TrailingLogs = DefaultTrailingLogs
	}
	return s
}

// Args returns the agent flags of s; a zero field leaves the agent's
// default.
func (s SnapshotSettings) Args() []string {
	var out []string
	if s.Threshold > 0 {
		out = append(out, "--raft-snapshot-threshold", strconv.FormatUint(s.Threshold, 10))
	}
	if s.Interval > 0 {
		out = append(out, "--raft-snapshot-interval", s.Interval.String())
	}
	if s.TrailingLogs > 0 {
		out = append(out, "--raft-trailing-logs", strconv.FormatUint(s.TrailingLogs, 10))
	}
	return out
}

package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

func (s *suite) snapshot(ctx context.Context) {
	s.section(SecSnapshot, "7. Snapshots at 10,000 and 100,000 members",
		"One `baton` agent runs in a process of its own (`batonbench snapshot`) as the only voter of a one-node Raft "+
			"cluster (raft-boltdb, file snapshots, TCP transport). Its state machine holds a catalogue of N members, one "+
			"finished transaction over all of them and one half-way through (max-parallel 100, 100 steps running); the "+
			"members are put in the catalogue directly and the transactions built by the state machine's own commands, "+
			"and the state is given to Raft as a restored snapshot (committing 100,000 joins would take hours). The agent "+
			"takes Raft user snapshots: the state machine's capture under its read lock (commands wait meanwhile), then "+
			"persist to the file store with fsync, and log compaction. Memory is the process's: the heap sampled every "+
			"millisecond and the resident-set high-water mark, reset before each snapshot. Then new followers (`baton "+
			"agent` processes) are added one at a time as non-voters: the leader's log starts after the snapshot, so it "+
			"must send it; the follower's log times the transfer into its file store and the restore of its state "+
			"machine.")
	for _, members := range s.n.snapshotMembers {
		opts := SnapshotOptions{Members: members, Takes: s.n.snapshotTakes, Sends: s.n.snapshotSends,
			Dir: s.dir(filepath.Join("snapshot", fmt.Sprint(members))), Bin: s.cfg.Bin, Limit: 6 * time.Minute}
		res, err := s.cfg.Snapshot(ctx, opts)
		name := fmt.Sprintf("snapshot of %d members, size", members)
		if err != nil {
			s.add(FailedRow(SecSnapshot, name, "MB", nil, err))
			continue
		}
		s.add(NewRow(SecSnapshot, name, "MB", res.SizeMB, nil, ""))
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  take: capture, persist (fsync), compaction, %d members", members), "ms", res.TakeMS, nil, ""))
		before := snapshotBefore[members]
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  capture under the state machine's read lock, %d members", members), "ms", res.CaptureMS, nil,
			joinNote("commands wait this long", before.capture)))
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  allocated during a take, %d members", members), "MB", res.AllocMB, nil, before.alloc))
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  Go heap above the state during a take, peak, %d members", members), "MB", res.HeapGrowthMB, nil, ""))
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  leader's peak resident set during a take, %d members", members), "MB", res.PeakRSSMB, nil,
			joinNote(fmt.Sprintf("before the takes: %s MB resident, of which the Go heap %s MB (the state, Raft and the agent)",
				num(res.BaseRSSMB), num(res.HeapMB)), before.rss)))
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  send: received into a new follower's file store, %d members", members), "ms", res.SendMS, nil, ""))
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  restore: the follower's state machine restored from it, %d members", members), "ms", res.RestoreMS, nil, ""))
		s.add(NewRow(SecSnapshot, fmt.Sprintf("  install: follower added to snapshot installed, %d members", members), "ms", res.InstallMS, nil,
			"the leader's appends back off to the start of its log, then it sends the snapshot; the follower answers once restored"))
	}
}

package node

import "time"

// nudgeWait bounds the barrier a nudge appends.
const nudgeWait = 5 * time.Second

// NudgeFollowers has the leader tell its followers its commit index now.
// A follower learns that an entry is committed only from the leader's next
// AppendEntries, which Raft sends when there is a new entry or, idle, after
// CommitTimeout (50 to 100 ms by default); a node that was just sent a step
// waits for its replica to apply the step's begin (rpc/upgrades.go,
// committedStep), so that wait was most of a step's delivery. A nudge
// appends a barrier entry (Raft's own, which no state machine sees) without
// waiting for it: its AppendEntries carries the commit index at once.
// Nudges that come while one is in flight are merged into the next; a
// follower does nothing.
func (a *Agent) NudgeFollowers() {
	select {
	case a.nudges <- struct{}{}:
	default:
	}
}

// nudgeLoop appends the barriers NudgeFollowers asks for, one at a time.
func (a *Agent) nudgeLoop() {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.nudges:
		}
		if !a.IsLeader() {
			continue
		}
		if err := a.parts.raft.Barrier(nudgeWait).Error(); err != nil {
			a.log.Debug("nudge followers: barrier", "error", err)
		}
	}
}

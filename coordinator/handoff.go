package coordinator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
)

// Retry delays of a handoff.
const (
	// handoffRetry follows a transfer that failed.
	handoffRetry = 200 * time.Millisecond
	// successorRetry follows a search that found no successor, or a pause
	// that did not commit.
	successorRetry = time.Second
)

// handoff hands leadership to the best other voter before this node's own
// step (S1, with S5's checks and S4's idle weight). batch lists the nodes
// about to upgrade, none of which may take over. When no voter qualifies it
// keeps trying for HandoffPatience, with the reason on the transaction,
// then pauses the transaction. This node never starts its own upgrade while
// it leads (I4).
//
// Each outcome is logged and counted as what it is: the transfer succeeded
// (info; the coordinator.handoff timing), failed (warning;
// coordinator.handoff.failed; retried soon), or was cut short because the
// coordinator is stopping (info; coordinator.handoff.interrupted: it may
// have succeeded, and whoever leads next goes on).
func (co *Coordinator) handoff(ctx context.Context, tn *tenure, t *fsm.Txn, batch []string) time.Duration {
	decided := co.opts.Now()
	probes := co.probe(ctx, t)
	exclude := append([]string{co.c.ID()}, batch...)
	chosen, ok, rejections := ChooseSuccessor(probes, exclude, co.c.LastIndex(), co.opts.MaxLag, co.opts.Weights)
	if !ok {
		return co.noSuccessor(ctx, tn, t, decided, rejections)
	}
	co.log.Info("handing leadership off", "txn", t.ID, "to", chosen, "decided_at", decided.Format(time.RFC3339Nano))
	if t.State == fsm.TxnRunning {
		// Said on the transaction, so a watcher sees what it waits for;
		// the new leader clears it when it begins the batch. (An aborting
		// transaction's reason tells why it aborts, and stays.)
		co.note(ctx, tn, t, fmt.Sprintf("handing leadership off to %s before %s upgrades", chosen, co.c.ID()))
	}
	leader, err := co.c.TransferLeadership(ctx, chosen)
	switch {
	case err != nil && ctx.Err() != nil:
		co.log.Info("leadership handoff interrupted: the coordinator is stopping, the transfer's outcome is unknown",
			"txn", t.ID, "to", chosen, "error", err)
		co.opts.Metrics.IncrCounter([]string{"coordinator", "handoff", "interrupted"}, 1)
		return idle
	case err != nil:
		co.log.Warn("leadership handoff failed; retrying", "txn", t.ID, "to", chosen, "error", err)
		co.opts.Metrics.IncrCounter([]string{"coordinator", "handoff", "failed"}, 1)
		return handoffRetry
	}
	co.log.Info("leadership handed off", "txn", t.ID, "to", chosen, "leader", leader, "took", co.opts.Now().Sub(decided))
	co.opts.Metrics.MeasureSince([]string{"coordinator", "handoff"}, decided)
	return idle
}

// noSuccessor handles a search that found no voter to take leadership: it
// writes the reasons on the transaction and retries until HandoffPatience
// has passed since the first failed search, then pauses the transaction
// (warning; coordinator.handoff.paused). A pause that does not commit is an
// error (coordinator.handoff.pause_failed); the transaction still runs, and
// the next turn tries to pause it again at once if there is still no
// successor.
func (co *Coordinator) noSuccessor(ctx context.Context, tn *tenure, t *fsm.Txn, decided time.Time, rejections []Rejection) time.Duration {
	var why []string
	for _, r := range rejections {
		why = append(why, r.ID+": "+r.Reason)
	}
	reason := fmt.Sprintf("no voter can take leadership before %s upgrades (%s)", co.c.ID(), strings.Join(why, "; "))
	if len(why) == 0 {
		reason = fmt.Sprintf("no other voter to take leadership before %s upgrades", co.c.ID())
	}
	if tn.handoffSince.IsZero() {
		tn.handoffSince = decided
	}
	if decided.Sub(tn.handoffSince) < co.opts.HandoffPatience {
		co.note(ctx, tn, t, reason+"; retrying")
		return successorRetry
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnPause, fsm.TxnControl{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Error("no successor, and pausing the transaction failed; retrying", "txn", t.ID, "reason", reason, "error", err)
		co.opts.Metrics.IncrCounter([]string{"coordinator", "handoff", "pause_failed"}, 1)
		return successorRetry
	}
	co.log.Warn("transaction paused: no successor", "txn", t.ID, "reason", reason)
	co.opts.Metrics.IncrCounter([]string{"coordinator", "handoff", "paused"}, 1)
	tn.handoffSince = time.Time{}
	return idle
}

// probe asks every other voter for its diagnostic, all at once; the other
// members are listed as non-voters, which never qualify.
func (co *Coordinator) probe(ctx context.Context, t *fsm.Txn) []Probe {
	var members []fsm.Member
	co.c.FSM().View(func(s *fsm.State) { members = s.MemberList() })
	var probes []Probe
	var voters []fsm.Member
	for _, m := range members {
		switch {
		case m.ID == co.c.ID():
		case m.Voter:
			voters = append(voters, m)
		default:
			probes = append(probes, Probe{ID: m.ID})
		}
	}
	answers := make([]Probe, len(voters))
	co.fanOut(len(voters), func(i int) {
		m := voters[i]
		p := Probe{ID: m.ID, Voter: true}
		cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
		defer cancel()
		d, err := co.n.Diagnostic(cctx, nodeAddr(m), true)
		if err == nil {
			p.Reachable, p.Healthy, p.AppliedIndex = true, d.Healthy, d.AppliedIndex
			p.Upgraded = d.Version == t.TargetVersion
			p.IdleCPU, p.IdleMem = d.IdleCPU, d.IdleMem
		}
		answers[i] = p
	})
	return append(probes, answers...)
}

package coordinator

import (
	"context"
	"fmt"
	"strings"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/baton-upgrade/baton/fsm"
)

// handoff hands leadership to the best other voter before this node's own
// step (S1, with S5's checks and S4's idle weight). batch lists the nodes
// about to upgrade, none of which may take over. When no voter qualifies it
// keeps trying for HandoffPatience, with the reason on the transaction,
// then pauses the transaction. This node never starts its own upgrade while
// it leads (I4).
func (co *Coordinator) handoff(ctx context.Context, tn *tenure, t *fsm.Txn, batch []string) time.Duration {
	decided := co.opts.Now()
	probes := co.probe(ctx, t)
	exclude := append([]string{co.c.ID()}, batch...)
	chosen, ok, rejections := ChooseSuccessor(probes, exclude, co.c.LastIndex(), co.opts.MaxLag, co.opts.Weights)
	if !ok {
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
		if decided.Sub(tn.handoffSince) >= co.opts.HandoffPatience {
			co.log.Warn("pausing: no successor", "txn", t.ID, "reason", reason)
			_, _ = co.c.Apply(ctx, fsm.CmdTxnPause, fsm.TxnControl{TxnID: t.ID, Reason: reason})
			tn.handoffSince = time.Time{}
			return idle
		}
		co.note(ctx, tn, t, reason+"; retrying")
		return time.Second
	}
	co.log.Info("handing leadership off", "txn", t.ID, "to", chosen, "decided_at", decided.Format(time.RFC3339Nano))
	if _, err := co.c.TransferLeadership(ctx, chosen); err != nil && ctx.Err() == nil {
		co.log.Warn("leadership handoff failed; retrying", "to", chosen, "error", err)
		return 200 * time.Millisecond
	}
	co.log.Info("leadership handed off", "txn", t.ID, "to", chosen, "took", co.opts.Now().Sub(decided))
	metrics.MeasureSince([]string{"coordinator", "handoff"}, decided)
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
		d, err := co.n.Diagnostic(cctx, m.HTTPAddr, true)
		if err == nil {
			p.Reachable, p.Healthy, p.AppliedIndex = true, d.Healthy, d.AppliedIndex
			p.Upgraded = d.Version == t.TargetVersion
			p.IdleCPU, p.IdleMem = d.IdleCPU, d.IdleMem
		}
		answers[i] = p
	})
	return append(probes, answers...)
}

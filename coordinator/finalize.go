package coordinator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
)

// TargetProtocol is the highest protocol version every member speaks, and
// never below the active one (I6).
func TargetProtocol(st *fsm.State) int {
	v := 0
	for _, m := range st.MemberList() {
		if v == 0 || m.Protocol.Max < v {
			v = m.Protocol.Max
		}
	}
	return max(v, st.ProtocolVersion)
}

// finalize ends a transaction whose steps are all done, raising the active
// protocol version. Every member must answer first: a member that is down
// might still run an old build, so it blocks finalize, with the reason on
// the transaction, until it is back or removed.
func (co *Coordinator) finalize(ctx context.Context, tn *tenure, t *fsm.Txn) time.Duration {
	var (
		members []fsm.Member
		v       int
		blocked error
	)
	co.c.FSM().View(func(s *fsm.State) {
		members = s.MemberList()
		v = TargetProtocol(s)
		blocked = s.CheckFinalize(t, v)
	})
	down, stale := co.checkMembers(ctx, members)
	if len(down) > 0 {
		co.note(ctx, tn, t, fmt.Sprintf("finalize blocked: %s unreachable; bring it back or remove it", strings.Join(down, ", ")))
		return 2 * time.Second
	}
	if len(stale) > 0 {
		// A node that restarted into a new build re-registers its protocol
		// range; finalize must not count the old one.
		co.note(ctx, tn, t, fmt.Sprintf("finalize waits for %s to register the protocol range of the build it now runs", strings.Join(stale, ", ")))
		return 500 * time.Millisecond
	}
	if blocked != nil {
		co.note(ctx, tn, t, "finalize blocked: "+blocked.Error())
		return 2 * time.Second
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnFinalize, fsm.TxnFinalize{TxnID: t.ID, ProtocolVersion: v}); err != nil {
		co.log.Warn("finalize not committed", "txn", t.ID, "error", err)
		return time.Second
	}
	co.log.Info("transaction done", "txn", t.ID, "protocol", v)
	return idle
}

// checkMembers probes every member: down lists those whose diagnostic call
// fails, stale those whose running build speaks a protocol range the
// catalogue does not hold yet (builds that predate the field report none).
// It asks maxInFlight of them at a time.
func (co *Coordinator) checkMembers(ctx context.Context, members []fsm.Member) (down, stale []string) {
	var others []fsm.Member
	for _, m := range members {
		if m.ID != co.c.ID() {
			others = append(others, m)
		} else if co.c.Self().Protocol != m.Protocol {
			stale = append(stale, m.ID)
		}
	}
	failed := make([]bool, len(others))
	changed := make([]bool, len(others))
	co.fanOut(len(others), func(i int) {
		cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
		defer cancel()
		// Finalize needs an answer and a protocol range, not the health hook.
		d, err := co.n.Diagnostic(cctx, nodeAddr(others[i]), false)
		failed[i] = err != nil
		changed[i] = err == nil && d.Protocol != (api.ProtocolRange{}) && d.Protocol != rpc.ProtocolRangeOut(others[i].Protocol)
	})
	for i, m := range others {
		if failed[i] {
			down = append(down, m.ID)
		} else if changed[i] {
			stale = append(stale, m.ID)
		}
	}
	sortIDs(down)
	sortIDs(stale)
	return down, stale
}

package coordinator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
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
func (co *Coordinator) finalize(ctx context.Context, tm *term, st *fsm.State, t *fsm.Txn) time.Duration {
	if down := co.unreachable(ctx, st); len(down) > 0 {
		co.note(ctx, tm, t, fmt.Sprintf("finalize blocked: %s unreachable; bring it back or remove it", strings.Join(down, ", ")))
		return 2 * time.Second
	}
	v := TargetProtocol(st)
	if err := st.CheckFinalize(t, v); err != nil {
		co.note(ctx, tm, t, "finalize blocked: "+err.Error())
		return 2 * time.Second
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnFinalize, fsm.TxnFinalize{TxnID: t.ID, ProtocolVersion: v}); err != nil {
		co.log.Warn("finalize not committed", "txn", t.ID, "error", err)
		return time.Second
	}
	co.log.Info("transaction done", "txn", t.ID, "protocol", v)
	return idle
}

// unreachable lists the members (other than this one) whose diagnostic
// call fails.
func (co *Coordinator) unreachable(ctx context.Context, st *fsm.State) []string {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		down []string
	)
	for _, m := range st.MemberList() {
		if m.ID == co.c.ID() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
			defer cancel()
			if _, err := co.n.Diagnostic(cctx, m.HTTPAddr); err != nil {
				mu.Lock()
				down = append(down, m.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sortIDs(down)
	return down
}

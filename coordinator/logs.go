package coordinator

import (
	"context"
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// liveTimeout bounds the call that asks a node which hook it runs, for a
// live read: a watcher waits on it, and a node that is slow to say is left
// out rather than holding the read up.
const liveTimeout = 2 * time.Second

// Logs gathers the hook output of transaction id (an id, "active" or
// "latest") from every node that ran a step of it, or only from node, and
// only of hook, when they are not empty. Any agent answers it: it asks the
// nodes all at once, each call bounded by CallTimeout. A node that cannot
// be asked (unreachable, no longer a member, a build without the route)
// gets an entry with Error set instead of failing the whole answer.
// ErrNotFound means no such transaction, or no step of it on node.
func (co *Coordinator) Logs(ctx context.Context, id, node, hook string) ([]api.StepLogs, error) {
	type target struct{ node, addr string }
	var (
		txnID   string
		targets []target
		err     error
	)
	co.c.FSM().View(func(s *fsm.State) {
		t := lookupTxn(s, id)
		switch {
		case t == nil && id == "active":
			err = fmt.Errorf("%w: no transaction is active", fsm.ErrNotFound)
			return
		case t == nil && id == "latest":
			err = fmt.Errorf("%w: no transaction has run on this cluster", fsm.ErrNotFound)
			return
		case t == nil:
			err = fmt.Errorf("%w: transaction %q", fsm.ErrNotFound, id)
			return
		}
		txnID = t.ID
		if node != "" && t.Step(node) == nil {
			err = fmt.Errorf("%w: transaction %s has no step for %q", fsm.ErrNotFound, t.ID, node)
			return
		}
		for _, st := range t.Steps {
			if (node == "" || st.Node == node) && st.Attempt > 0 {
				targets = append(targets, target{st.Node, nodeAddr(s.Members[st.Node])})
			}
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([][]api.StepLogs, len(targets))
	co.fanOut(len(targets), func(i int) {
		tg := targets[i]
		if tg.addr == "" {
			out[i] = []api.StepLogs{{TxnID: txnID, Node: tg.node, Error: fmt.Sprintf("%s is no longer a member", tg.node)}}
			return
		}
		cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
		defer cancel()
		logs, err := co.n.NodeStepLogs(cctx, tg.addr, txnID)
		if err != nil {
			out[i] = []api.StepLogs{{TxnID: txnID, Node: tg.node, Error: fmt.Sprintf("could not get the hook output of %s: %v", tg.node, err)}}
			return
		}
		out[i] = filterLogs(logs, txnID, tg.node, hook)
	})
	all := []api.StepLogs{}
	for _, l := range out {
		all = append(all, l...)
	}
	return all, nil
}

// filterLogs keeps node's attempts of txnID, with only the runs of hook
// when hook is not empty (an attempt that ran no such hook is left out). A
// node that kept nothing of the transaction says so in an entry.
func filterLogs(logs []api.StepLogs, txnID, node, hook string) []api.StepLogs {
	var out []api.StepLogs
	for _, l := range logs {
		l.TxnID, l.Node = txnID, node
		if hook != "" {
			var runs []api.HookOutput
			for _, h := range l.Hooks {
				if h.Hook == hook {
					runs = append(runs, h)
				}
			}
			if len(runs) == 0 {
				continue
			}
			l.Hooks = runs
		}
		if l.Hooks == nil {
			l.Hooks = []api.HookOutput{}
		}
		out = append(out, l)
	}
	if len(logs) == 0 {
		out = append(out, api.StepLogs{TxnID: txnID, Node: node, Hooks: []api.HookOutput{},
			Error: fmt.Sprintf("%s keeps no hook output of %s", node, txnID)})
	}
	return out
}

// lookupTxn finds transaction id in s: an id, "active" or "latest" (the
// active one, else the newest); nil when there is none.
func lookupTxn(s *fsm.State, id string) *fsm.Txn {
	switch id {
	case "active":
		return s.ActiveTxn()
	case "latest":
		return s.LatestTxn()
	}
	return s.Txns[id]
}

// RunningHooks asks the node of each running step of transaction txnID
// which hook it runs, all at once, and returns the answers by node. A node
// that does not answer within liveTimeout (or names no hook) is left out:
// the answer is for a watcher to show, never for a decision.
func (co *Coordinator) RunningHooks(ctx context.Context, txnID string) map[string]string {
	type target struct {
		node, addr string
		attempt    uint64
	}
	var targets []target
	co.c.FSM().View(func(s *fsm.State) {
		t := s.Txns[txnID]
		if t == nil || t.Count(fsm.StepRunning) == 0 {
			return
		}
		for _, st := range t.Steps {
			if addr := nodeAddr(s.Members[st.Node]); st.State == fsm.StepRunning && addr != "" {
				targets = append(targets, target{st.Node, addr, st.Attempt})
			}
		}
	})
	hooks := make([]string, len(targets))
	co.fanOut(len(targets), func(i int) {
		cctx, cancel := context.WithTimeout(ctx, min(liveTimeout, co.opts.CallTimeout))
		defer cancel()
		if st, err := co.n.StepStatus(cctx, targets[i].addr, txnID, targets[i].attempt); err == nil {
			hooks[i] = st.Hook
		}
	})
	out := map[string]string{}
	for i, tg := range targets {
		if hooks[i] != "" {
			out[tg.node] = hooks[i]
		}
	}
	return out
}

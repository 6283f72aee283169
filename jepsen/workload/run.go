package workload

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/jepsen/harness"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Run runs the clients until ctx ends and returns when the last one has
// finished its operation.
func Run(ctx context.Context, c *harness.Cluster, o Options) {
	var wg sync.WaitGroup
	start := func(name, via string, seed int64) {
		cl := &client{name: name, via: via, c: c, rec: o.Recorder, rng: rand.New(rand.NewSource(seed)), opts: o, protocol: 1}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.loop(ctx)
		}()
	}
	for i := 0; i < o.APIClients; i++ {
		start(fmt.Sprintf("api-%d", i+1), history.ViaAPI, o.Seed*100+int64(i))
	}
	for i := 0; i < o.CLIClients; i++ {
		start(fmt.Sprintf("cli-%d", i+1), history.ViaCLI, o.Seed*100+50+int64(i))
	}
	wg.Wait()
}

// maxOps bounds one client's operations in a run, beside its context.
const maxOps = 100000

func (cl *client) loop(ctx context.Context) {
	for i := 0; i < maxOps && ctx.Err() == nil; i++ {
		ids := cl.c.IDs()
		node := ids[cl.rng.Intn(len(ids))]
		cl.step(node)
		pause := time.Duration(100+cl.rng.Intn(500)) * time.Millisecond
		if cl.via == history.ViaCLI {
			pause *= 2
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// step draws and runs one operation, weighted by what the client last saw:
// mostly reads; a start when nothing seemed active; now and then a pause,
// a resume of a paused transaction, a retry of a failed (or
// rollback-failed) one, an abort. A draw whose action does not fit what the
// client saw reads instead.
func (cl *client) step(node string) {
	roll := cl.rng.Intn(100)
	txn := cl.lastTxn
	active := txn != "" && cl.lastState.Active()
	if cl.via == history.ViaCLI {
		cl.cliStep(node, roll, txn, active)
		return
	}
	switch {
	case roll < 25:
		cl.apiRead(node, "", true)
	case roll < 40 && txn != "":
		cl.apiRead(node, txn, true)
	case roll < 45:
		cl.apiList(node, true)
	case roll < 52:
		cl.apiRead(node, "", false)
	case roll < 66:
		if !active {
			cl.learnProtocol(node)
			cl.apiStart(node, cl.startParams())
			return
		}
		cl.apiRead(node, "", true)
	case roll < 70:
		if active && cl.lastState == api.TxnRunning {
			cl.apiControl(node, history.KindPause, txn, false)
			return
		}
		cl.apiRead(node, "", true)
	case roll < 84:
		if active && cl.lastState == api.TxnPaused {
			cl.apiControl(node, history.KindResume, txn, false)
			return
		}
		cl.apiRead(node, "", true)
	case roll < 92:
		if active && halted(cl.lastState) {
			cl.apiControl(node, history.KindRetry, txn, false)
			return
		}
		cl.apiRead(node, "", true)
	case roll < 93:
		if active && cl.lastState != api.TxnAborting {
			cl.apiControl(node, history.KindAbort, txn, cl.rng.Intn(2) == 0)
			return
		}
		cl.apiRead(node, "", true)
	default:
		cl.apiRead(node, "", true)
	}
}

func (cl *client) cliStep(node string, roll int, txn string, active bool) {
	switch {
	case roll < 35:
		cl.cliStatus(node, "")
	case roll < 55:
		if !active {
			cl.learnProtocol(node)
			cl.cliStart(node, cl.startParams())
			return
		}
		cl.cliStatus(node, txn)
	case roll < 62:
		if active && cl.lastState == api.TxnRunning {
			cl.cliControl(node, history.KindPause, "", false)
			return
		}
		cl.cliStatus(node, txn)
	case roll < 80:
		if active && cl.lastState == api.TxnPaused {
			cl.cliControl(node, history.KindResume, txn, false)
			return
		}
		cl.cliStatus(node, txn)
	case roll < 90:
		if active && halted(cl.lastState) {
			cl.cliControl(node, history.KindRetry, "", false)
			return
		}
		cl.cliStatus(node, txn)
	case roll < 91:
		if active && cl.lastState != api.TxnAborting {
			cl.cliControl(node, history.KindAbort, txn, false)
			return
		}
		cl.cliStatus(node, txn)
	default:
		cl.cliStatus(node, txn)
	}
}

// Settle brings every transaction to an end after the faults have healed,
// within limit: it resumes a paused transaction, retries a failed (or
// rollback-failed) one once and aborts it if it fails again, and waits for
// the others. It returns whether nothing was active when it stopped.
func Settle(ctx context.Context, c *harness.Cluster, rec *history.Recorder, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cl := &client{name: "settler", via: history.ViaAPI, c: c, rec: rec, rng: rand.New(rand.NewSource(1)), protocol: 1}
	retried := map[string]bool{}
	for i := 0; ctx.Err() == nil; i++ {
		live := c.Live()
		if len(live) == 0 {
			return false
		}
		node := live[i%len(live)]
		op := cl.apiRead(node, "", true)
		switch {
		case op.Type == history.Fail && op.Status == 404:
			return true
		case op.Type != history.OK:
		case op.Result().State == api.TxnPaused:
			cl.apiControl(node, history.KindResume, op.Result().ID, false)
		case halted(op.Result().State) && !retried[op.Result().ID]:
			retried[op.Result().ID] = true
			cl.apiControl(node, history.KindRetry, op.Result().ID, false)
		case halted(op.Result().State):
			cl.apiControl(node, history.KindAbort, op.Result().ID, false)
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return false
}

// FinalState reads every transaction with a consistent read, trying the
// live agents in turn for up to limit.
func FinalState(ctx context.Context, c *harness.Cluster, rec *history.Recorder, limit time.Duration) (history.Op, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cl := &client{name: "final", via: history.ViaAPI, c: c, rec: rec, rng: rand.New(rand.NewSource(2))}
	var last history.Op
	for i := 0; ctx.Err() == nil; i++ {
		live := c.Live()
		if len(live) > 0 {
			last = cl.apiList(live[i%len(live)], true)
			if last.Type == history.OK {
				return last, nil
			}
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return last, fmt.Errorf("no consistent read of the final state within %s: %s", limit, last.Error)
}

// halted reports whether a transaction in state st waits for an operator's
// retry or abort: failed, or rollback-failed (whose retry retries the
// rollback).
func halted(st api.TxnState) bool { return st == api.TxnFailed || st == api.TxnRollbackFailed }

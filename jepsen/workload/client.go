package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"time"

	"github.com/baton-upgrade/baton/jepsen/harness"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/rpc/api"
)

// callTimeout bounds one operation.
const callTimeout = 10 * time.Second

// Options configure the workload.
type Options struct {
	APIClients int
	CLIClients int
	Seed       int64
	// StepTimeout and ProgressDeadline are given to every transaction.
	StepTimeout      time.Duration
	ProgressDeadline time.Duration
	Recorder         *history.Recorder
}

// client is one process of the workload.
type client struct {
	name string
	via  string
	c    *harness.Cluster
	rec  *history.Recorder
	rng  *rand.Rand
	opts Options
	// what this client last learned of the cluster
	lastTxn   string
	lastState api.TxnState
	protocol  int
}

// do runs one recorded operation: call performs it and classifies its end.
func (cl *client) do(op history.Op, call func(ctx context.Context, op *history.Op) history.Type) history.Op {
	op.Process, op.Via = cl.name, cl.via
	op = cl.rec.Begin(op)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	t := call(ctx, &op)
	op = cl.rec.Finish(op, t)
	if op.Type == history.OK && len(op.Results) > 0 {
		r := op.Result()
		if r.ID != "" && (op.Kind != history.KindList) {
			cl.lastTxn, cl.lastState = r.ID, r.State
			if r.Protocol > 0 {
				cl.protocol = r.Protocol
			}
		}
	}
	if op.Kind == history.KindReadActive && op.Type == history.Fail && op.Status == 404 {
		cl.lastState = "" // nothing is active
	}
	return op
}

// classify sorts an operation's end by what its error says of a write:
// none is ok; an answer that says nothing was applied (a refusal, no
// leader, an agent that could not be reached) fails; an error that leaves
// the write's outcome unknown (api.Indeterminate: leadership lost or the
// deadline passed while it committed, an internal error, no answer after
// the request left) is info, as it may or may not have happened. A read
// that got no answer simply failed.
func classify(op *history.Op, err error) history.Type {
	if err == nil {
		return history.OK
	}
	op.Error = err.Error()
	var apiErr *api.APIError
	if errors.As(err, &apiErr) {
		op.Status, op.Code = apiErr.Status, apiErr.Code
	}
	if op.IsWrite() && api.Indeterminate(err) {
		return history.Info
	}
	return history.Fail
}

func view(t api.Txn) history.TxnView {
	return history.TxnView{ID: t.ID, State: t.State, Protocol: t.ProtocolVersion}
}

// apiRead reads a transaction (or the active one) from node.
func (cl *client) apiRead(node, id string, consistent bool) history.Op {
	kind := history.KindRead
	if id == "" {
		kind = history.KindReadActive
	}
	return cl.do(history.Op{Kind: kind, Node: node, Txn: id, Consistent: consistent}, func(ctx context.Context, op *history.Op) history.Type {
		path := "active"
		if id != "" {
			path = id
		}
		q := url.Values{}
		if consistent {
			q.Set("consistent", "true")
		}
		var t api.Txn
		_, err := cl.c.Client(node).Do(ctx, http.MethodGet, "/v1/upgrades/"+url.PathEscape(path), q, nil, &t)
		if err == nil {
			op.Results, op.Found = []history.TxnView{view(t)}, true
		}
		return classify(op, err)
	})
}

// apiList lists every transaction from node.
func (cl *client) apiList(node string, consistent bool) history.Op {
	return cl.do(history.Op{Kind: history.KindList, Node: node, Consistent: consistent}, func(ctx context.Context, op *history.Op) history.Type {
		q := url.Values{}
		if consistent {
			q.Set("consistent", "true")
		}
		var ts []api.Txn
		_, err := cl.c.Client(node).Do(ctx, http.MethodGet, "/v1/upgrades", q, nil, &ts)
		for _, t := range ts {
			op.Results = append(op.Results, view(t))
		}
		op.Found = err == nil
		return classify(op, err)
	})
}

// apiStart starts a transaction through node.
func (cl *client) apiStart(node string, p history.StartParams) history.Op {
	return cl.do(history.Op{Kind: history.KindStart, Node: node, Request: &p}, func(ctx context.Context, op *history.Op) history.Type {
		t, err := cl.c.Client(node).StartUpgrade(ctx, cl.startRequest(p))
		if err == nil {
			op.Results, op.Found = []history.TxnView{view(t)}, true
		}
		return classify(op, err)
	})
}

func (cl *client) startRequest(p history.StartParams) api.StartRequest {
	return api.StartRequest{TargetVersion: p.TargetVersion, Strategy: p.Strategy, MaxParallel: p.MaxParallel,
		OnFailure: p.OnFailure, StepTimeout: cl.opts.StepTimeout.String(), ProgressDeadline: cl.opts.ProgressDeadline.String(),
		MaxLag: p.MaxLag}
}

// apiControl pauses, resumes, retries or aborts transaction id through node.
func (cl *client) apiControl(node, action, id string, rollback bool) history.Op {
	return cl.do(history.Op{Kind: action, Node: node, Txn: id}, func(ctx context.Context, op *history.Op) history.Type {
		t, err := cl.c.Client(node).ControlUpgrade(ctx, id, action, api.AbortRequest{Rollback: rollback})
		if err == nil {
			op.Results, op.Found = []history.TxnView{view(t)}, true
		}
		return classify(op, err)
	})
}

// startParams draws a transaction's shape; its target is one version past
// the cluster's active protocol, the version whose build speaks it.
func (cl *client) startParams() history.StartParams {
	strategies := []string{"by-id", "secondaries-first", "primary-first"}
	if cl.protocol >= 3 {
		strategies = append(strategies, "ring") // the failover ring (I9) needs protocol 3
	}
	p := history.StartParams{
		TargetVersion: fmt.Sprintf("%d.0.0", max(cl.protocol, 1)+1),
		Strategy:      strategies[cl.rng.Intn(len(strategies))],
		MaxParallel:   []string{"1", "1", "2"}[cl.rng.Intn(3)],
		OnFailure:     "halt",
	}
	if cl.rng.Intn(5) < 2 {
		p.OnFailure = "rollback"
	}
	// The service's switch-over (protocol 3) holds replicas to a lag
	// limit; the harness gives some replicas a lag over 0 and some over
	// 10 (see harness.Options).
	if cl.protocol >= 3 {
		p.MaxLag = []uint64{0, 10}[cl.rng.Intn(2)]
	}
	return p
}

// learnProtocol asks a node for the active protocol version (not recorded:
// it only shapes the next start).
func (cl *client) learnProtocol(node string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if h, err := cl.c.Client(node).Health(ctx); err == nil && h.ProtocolVersion > 0 {
		cl.protocol = h.ProtocolVersion
	}
}

package rpc

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/baton-upgrade/baton/fsm"
)

// Upgrades is the leader-side logic of upgrade transactions.
type Upgrades interface {
	// Plan computes what a transaction would do, changing nothing.
	Plan(ctx context.Context, req StartRequest) (Plan, error)
	// Start validates the request and commits a new transaction.
	Start(ctx context.Context, req StartRequest) (*fsm.Txn, error)
	// Control pauses, resumes, retries or aborts a transaction.
	Control(ctx context.Context, txnID, action string, abort AbortRequest) (*fsm.Txn, error)
	// Notice commits a node's completion notice.
	Notice(ctx context.Context, n Notice) error
}

// Steps is the node-side execution of steps.
type Steps interface {
	// RunStep starts (or, for an attempt already known, reports) a step.
	RunStep(ctx context.Context, req StepRequest) (StepStatus, error)
	// StepStatus reports an attempt this node knows of.
	StepStatus(txnID string, attempt uint64) (StepStatus, bool)
	// Diagnostic answers the leader's probe; the health hook runs only
	// when health is true.
	Diagnostic(ctx context.Context, health bool) Diagnostic
}

// Control actions.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionRetry  = "retry"
	ActionAbort  = "abort"
)

func (s *Server) upgradeRoutes() {
	if s.opts.Upgrades != nil {
		s.mux.Handle("GET /v1/upgrades", s.read(s.listTxns))
		s.mux.Handle("POST /v1/upgrades", s.write(s.startTxn))
		s.mux.Handle("POST /v1/upgrades/plan", s.read(s.planTxn))
		s.mux.Handle("GET /v1/upgrades/{id}", s.read(s.getTxn))
		s.mux.Handle("POST /v1/upgrades/{id}/{action}", s.write(s.controlTxn))
		s.mux.Handle("POST /v1/internal/notices", s.write(s.notice))
	}
	if s.opts.Steps != nil {
		s.mux.Handle("POST /v1/internal/steps", s.localWrite(s.runStep))
		s.mux.Handle("GET /v1/internal/steps/{txn}/{attempt}", s.read(s.stepStatus))
		s.mux.Handle("GET /v1/internal/diagnostic", s.read(s.diagnostic))
	}
}

// txnView wraps a transaction with the protocol version as read.
func txnView(st *fsm.State, t *fsm.Txn) Txn {
	v := Txn{Txn: *t, ProtocolVersion: st.ProtocolVersion}
	if t.State == fsm.TxnDone {
		v.ProtocolVersion = t.ProtocolVersion
	}
	return v
}

func (s *Server) listTxns(r *http.Request) (any, error) {
	out := []Txn{}
	s.b.FSM().View(func(st *fsm.State) {
		for _, t := range st.TxnList() {
			out = append(out, txnView(st, t))
		}
	})
	return out, nil
}

// getTxn serves /v1/upgrades/{id}; the id "active" names the active
// transaction and "latest" the active one or else the newest.
func (s *Server) getTxn(r *http.Request) (any, error) {
	id := r.PathValue("id")
	var (
		out   Txn
		found bool
	)
	s.b.FSM().View(func(st *fsm.State) {
		var t *fsm.Txn
		switch id {
		case "active":
			t = st.ActiveTxn()
		case "latest":
			t = st.LatestTxn()
		default:
			t = st.Txns[id]
		}
		if t != nil {
			out, found = txnView(st, t), true
		}
	})
	if !found {
		if id == "active" {
			return nil, fmt.Errorf("%w: no transaction is active", fsm.ErrNotFound)
		}
		if id == "latest" {
			return nil, fmt.Errorf("%w: no transaction has run on this cluster", fsm.ErrNotFound)
		}
		return nil, fmt.Errorf("%w: transaction %q", fsm.ErrNotFound, id)
	}
	return out, nil
}

func (s *Server) startTxn(r *http.Request) (any, error) {
	var req StartRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	t, err := s.opts.Upgrades.Start(r.Context(), req)
	if err != nil {
		return nil, err
	}
	var v Txn
	s.b.FSM().View(func(st *fsm.State) { v = txnView(st, t) })
	return v, nil
}

func (s *Server) planTxn(r *http.Request) (any, error) {
	var req StartRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.opts.Upgrades.Plan(r.Context(), req)
}

func (s *Server) controlTxn(r *http.Request) (any, error) {
	action := r.PathValue("action")
	var abort AbortRequest
	switch action {
	case ActionPause, ActionResume, ActionRetry:
	case ActionAbort:
		if r.ContentLength != 0 {
			if err := decode(r, &abort); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%w: no route POST %s (actions: pause, resume, retry, abort)", fsm.ErrNotFound, r.URL.Path)
	}
	id := r.PathValue("id")
	if id == "active" {
		// Resolve on confirmed state: a leader just elected may lag.
		if err := s.b.Barrier(r.Context()); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
		s.b.FSM().View(func(st *fsm.State) { id = st.Active })
		if id == "" {
			return nil, fmt.Errorf("%w: no transaction is active", fsm.ErrNotFound)
		}
	}
	t, err := s.opts.Upgrades.Control(r.Context(), id, action, abort)
	if err != nil {
		return nil, err
	}
	var v Txn
	s.b.FSM().View(func(st *fsm.State) { v = txnView(st, t) })
	return v, nil
}

func (s *Server) notice(r *http.Request) (any, error) {
	var n Notice
	if err := decode(r, &n); err != nil {
		return nil, err
	}
	if err := s.opts.Upgrades.Notice(r.Context(), n); err != nil {
		return nil, err
	}
	return map[string]string{"acknowledged": n.TxnID}, nil
}

func (s *Server) runStep(r *http.Request) (any, error) {
	var req StepRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.opts.Steps.RunStep(r.Context(), req)
}

func (s *Server) stepStatus(r *http.Request) (any, error) {
	attempt, err := strconv.ParseUint(r.PathValue("attempt"), 10, 64)
	if err != nil {
		return nil, badRequest("attempt %q: want a positive integer", r.PathValue("attempt"))
	}
	st, ok := s.opts.Steps.StepStatus(r.PathValue("txn"), attempt)
	if !ok {
		return nil, fmt.Errorf("%w: this node has no attempt %d of transaction %s", fsm.ErrNotFound, attempt, r.PathValue("txn"))
	}
	return st, nil
}

func (s *Server) diagnostic(r *http.Request) (any, error) {
	return s.opts.Steps.Diagnostic(r.Context(), r.URL.Query().Get("health") != "false"), nil
}

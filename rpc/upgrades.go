package rpc

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Upgrades is the leader-side logic of upgrade transactions.
type Upgrades interface {
	// Plan computes what a transaction would do, changing nothing.
	Plan(ctx context.Context, req api.StartRequest) (api.Plan, error)
	// Start validates the request and commits a new transaction.
	Start(ctx context.Context, req api.StartRequest) (*fsm.Txn, error)
	// Control pauses, resumes, retries or aborts a transaction (action is
	// one of api.ActionPause, ActionResume, ActionRetry, ActionAbort), with
	// req's options (Rollback for abort, Forward for retry).
	Control(ctx context.Context, txnID, action string, req api.ControlRequest) (*fsm.Txn, error)
	// Notice commits a node's completion notice: the edge where a node's
	// report (api.StepDone or api.StepFailed) becomes a command.
	Notice(ctx context.Context, n api.Notice) error
	// Logs gathers a transaction's hook output from its nodes (any agent
	// answers); a node that cannot be asked gets an entry with its error.
	// ErrNotFound means no such transaction, or no step of it on node.
	Logs(ctx context.Context, txnID, node, hook string) ([]api.StepLogs, error)
	// RunningHooks asks the nodes of a transaction's running steps which
	// hook they run; a node that does not answer is left out.
	RunningHooks(ctx context.Context, txnID string) map[string]string
}

// Steps is the node-side execution of steps.
type Steps interface {
	// RunStep starts (or, for an attempt already known, reports) a step.
	RunStep(ctx context.Context, req api.StepRequest) (api.StepStatus, error)
	// StepStatus reports an attempt this node knows of.
	StepStatus(txnID string, attempt uint64) (api.StepStatus, bool)
	// Diagnostic answers the leader's probe; the health hook runs only
	// when health is true.
	Diagnostic(ctx context.Context, health bool) api.Diagnostic
	// CancelStep stops an attempt this node runs and reports it at once,
	// still running while its hook is being stopped; an attempt already
	// finished is reported as it is. An attempt the node never began is
	// an error wrapping fsm.ErrNotFound (protocol 3).
	CancelStep(ctx context.Context, txnID string, attempt uint64, reason string) (api.StepStatus, error)
	// StepLogs returns the hook output of every attempt of txnID this node
	// ran, oldest first; none (not an error) for a transaction it never
	// ran a step of (protocol 3).
	StepLogs(ctx context.Context, txnID string) ([]api.StepLogs, error)
}

// StepControlProtocol is the protocol that introduced the node routes that
// cancel an attempt and serve its hook logs. A build that speaks only older
// protocols has neither, and the leader calls them only once the cluster's
// active protocol is at least this one.
const StepControlProtocol = 3

// MaxCancelReason bounds the reason of a cancel, which becomes the
// attempt's error.
const MaxCancelReason = 1 << 10

func (s *Server) upgradeRoutes() {
	if s.opts.Upgrades != nil {
		s.mux.Handle("GET /v1/upgrades", s.read(s.listTxns))
		s.mux.Handle("POST /v1/upgrades", s.write(s.startTxn))
		s.mux.Handle("POST /v1/upgrades/plan", s.read(s.planTxn))
		s.mux.Handle("GET /v1/upgrades/{id}", s.read(s.getTxn))
		s.mux.Handle("POST /v1/upgrades/{id}/{action}", s.write(s.controlTxn))
		s.mux.Handle("POST /v1/internal/notices", s.write(s.notice))
		if s.opts.Speaks >= upgradeLogsProtocol {
			s.mux.Handle("GET /v1/upgrades/{id}/logs", http.HandlerFunc(s.upgradeLogs))
		}
	}
	if s.opts.Steps != nil {
		s.mux.Handle("POST /v1/internal/steps", s.localWrite(s.runStep))
		s.mux.Handle("GET /v1/internal/steps/{txn}/{attempt}", s.read(s.stepStatus))
		s.mux.Handle("GET /v1/internal/diagnostic", http.HandlerFunc(s.diagnostic))
		if s.opts.Speaks >= StepControlProtocol {
			s.mux.Handle("POST /v1/internal/steps/{txn}/{attempt}/cancel", s.localWrite(s.cancelStep))
			s.mux.Handle("GET /v1/internal/steps/{txn}/logs", s.nodeRead(s.stepLogs))
		}
	}
}

func (s *Server) listTxns(r *http.Request) (any, error) {
	out := []api.Txn{}
	s.b.FSM().View(func(st *fsm.State) {
		for _, t := range st.TxnList() {
			out = append(out, txnOut(st, t))
		}
	})
	return out, nil
}

// getTxn serves /v1/upgrades/{id}; the id "active" names the active
// transaction and "latest" the active one or else the newest. With
// ?live=true the nodes of its running steps are asked which hook they run
// (Step.Hook), after the long poll if any: a read that costs a call per
// running step, for watchers.
func (s *Server) getTxn(r *http.Request) (any, error) {
	out, err := s.readTxn(r)
	if err != nil || r.URL.Query().Get("live") != "true" || out.State.Terminal() {
		return out, err
	}
	hooks := s.opts.Upgrades.RunningHooks(r.Context(), out.ID)
	for i := range out.Steps {
		out.Steps[i].Hook = hooks[out.Steps[i].Node]
	}
	return out, nil
}

// validTxnRef checks a transaction named in a path: an id, or "active" or
// "latest".
func validTxnRef(id string) error {
	if id == "active" || id == "latest" {
		return nil
	}
	return fsm.ValidateTxnID(id)
}

func (s *Server) readTxn(r *http.Request) (api.Txn, error) {
	id := r.PathValue("id")
	if err := validTxnRef(id); err != nil {
		return api.Txn{}, err
	}
	var (
		out   api.Txn
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
			out, found = txnOut(st, t), true
		}
	})
	if !found {
		if id == "active" {
			return out, fmt.Errorf("%w: no transaction is active", fsm.ErrNotFound)
		}
		if id == "latest" {
			return out, fmt.Errorf("%w: no transaction has run on this cluster", fsm.ErrNotFound)
		}
		return out, fmt.Errorf("%w: transaction %q", fsm.ErrNotFound, id)
	}
	return out, nil
}

func (s *Server) startTxn(r *http.Request) (any, error) {
	var req api.StartRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	t, err := s.opts.Upgrades.Start(r.Context(), req)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "txn", t.ID)
	var v api.Txn
	s.b.FSM().View(func(st *fsm.State) { v = txnOut(st, t) })
	return v, nil
}

func (s *Server) planTxn(r *http.Request) (any, error) {
	var req api.StartRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.opts.Upgrades.Plan(r.Context(), req)
}

func (s *Server) controlTxn(r *http.Request) (any, error) {
	action := r.PathValue("action")
	var req api.ControlRequest
	switch action {
	case api.ActionPause, api.ActionResume:
	case api.ActionRetry, api.ActionAbort:
		if r.ContentLength != 0 {
			if err := decode(r, &req); err != nil {
				return nil, err
			}
		}
		if action == api.ActionRetry && req.Rollback {
			return nil, badRequest("retry takes no rollback: retrying a rollback-failed transaction retries its rollback, and abort --rollback rolls back")
		}
		if action == api.ActionAbort && req.Forward {
			return nil, badRequest("abort takes no forward: retry --forward rolls a rollback-failed transaction forward")
		}
	default:
		return nil, fmt.Errorf("%w: no route POST %s (actions: pause, resume, retry, abort)", fsm.ErrNotFound, r.URL.Path)
	}
	id := r.PathValue("id")
	if err := validTxnRef(id); err != nil {
		return nil, err
	}
	if id == "active" {
		// Resolve on confirmed state: a leader just elected may lag.
		if err := s.b.Barrier(r.Context()); err != nil {
			return nil, fmt.Errorf("%w: %v", api.ErrNoLeader, err)
		}
		s.b.FSM().View(func(st *fsm.State) { id = st.Active })
		if id == "" {
			return nil, fmt.Errorf("%w: no transaction is active", fsm.ErrNotFound)
		}
	}
	t, err := s.opts.Upgrades.Control(r.Context(), id, action, req)
	if err != nil {
		return nil, err
	}
	var v api.Txn
	s.b.FSM().View(func(st *fsm.State) { v = txnOut(st, t) })
	return v, nil
}

func (s *Server) notice(r *http.Request) (any, error) {
	var n api.Notice
	if err := decode(r, &n); err != nil {
		return nil, err
	}
	if err := fsm.ValidateTxnID(n.TxnID); err != nil {
		return nil, err
	}
	if err := fsm.ValidateID(n.Node); err != nil {
		return nil, err
	}
	noteAudit(r, "txn", n.TxnID, "node", n.Node, "attempt", n.Attempt, "state", string(n.State))
	if err := s.requireNode(r, n.Node, "the completion notice"); err != nil {
		return nil, err
	}
	if err := s.opts.Upgrades.Notice(r.Context(), n); err != nil {
		return nil, err
	}
	return map[string]string{"acknowledged": n.TxnID}, nil
}

func (s *Server) runStep(r *http.Request) (any, error) {
	var req api.StepRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := fsm.ValidateTxnID(req.TxnID); err != nil {
		return nil, err
	}
	if err := fsm.ValidateID(req.Node); err != nil {
		return nil, err
	}
	noteAudit(r, "txn", req.TxnID, "node", req.Node, "attempt", req.Attempt)
	if err := s.requireLeader(r, "step deliveries"); err != nil {
		return nil, err
	}
	if err := s.committedStep(r, req); err != nil {
		return nil, err
	}
	return s.opts.Steps.RunStep(r.Context(), req)
}

// stepIndexWait bounds how long a node waits for its replica to reach the
// index the leader sent with a step.
const stepIndexWait = 3 * time.Second

// committedStep refuses a step whose transaction and attempt this node's
// replica does not hold as committed, after waiting (up to stepIndexWait)
// for the replica to apply the leader's index (api.CommitIndexHeader): the
// leader writes step.begin before it sends the step, so a step that is not
// there was never begun, whoever sends it.
func (s *Server) committedStep(r *http.Request, req api.StepRequest) error {
	var want uint64
	if v := r.Header.Get(api.CommitIndexHeader); v != "" {
		var err error
		if want, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest("%s %q: want a non-negative integer", api.CommitIndexHeader, clipID(v))
		}
	}
	if want > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), stepIndexWait)
		s.b.FSM().WaitIndex(ctx, want-1)
		cancel()
	}
	var err error
	s.b.FSM().View(func(st *fsm.State) {
		err = stepCommitted(st, req, want)
	})
	return err
}

// stepCommitted checks req against the replica's state st.
func stepCommitted(st *fsm.State, req api.StepRequest, want uint64) error {
	behind := ""
	if st.Index < want {
		behind = fmt.Sprintf(" (its replica is at index %d, the leader's at %d)", st.Index, want)
	}
	t := st.Txns[req.TxnID]
	if t == nil {
		return fmt.Errorf("%w: transaction %s is not in this node's replica%s", fsm.ErrNotFound, req.TxnID, behind)
	}
	for _, step := range t.Steps {
		if step.Node != req.Node {
			continue
		}
		switch {
		case step.Attempt != req.Attempt:
			return fmt.Errorf("%w: the step of %s in %s is at attempt %d in this node's replica, not %d%s",
				fsm.ErrStale, req.Node, req.TxnID, step.Attempt, req.Attempt, behind)
		case req.TargetVersion != step.ToVersion || req.FromVersion != step.FromVersion || req.Rollback != step.Rollback:
			return fmt.Errorf("%w: the step's versions or direction differ from the step of %s in %s as committed", fsm.ErrInvalid, req.Node, req.TxnID)
		case !req.Rollback && (req.ArtifactURL != t.ArtifactURL || req.ArtifactSHA256 != t.ArtifactSHA256):
			return fmt.Errorf("%w: the step's artifact differs from transaction %s as committed", fsm.ErrInvalid, req.TxnID)
		}
		return nil
	}
	return fmt.Errorf("%w: transaction %s has no step for %s", fsm.ErrNotFound, req.TxnID, req.Node)
}

func (s *Server) stepStatus(r *http.Request) (any, error) {
	attempt, err := strconv.ParseUint(r.PathValue("attempt"), 10, 64)
	if err != nil {
		return nil, badRequest("attempt %q: want a positive integer", r.PathValue("attempt"))
	}
	if err := fsm.ValidateTxnID(r.PathValue("txn")); err != nil {
		return nil, err
	}
	st, ok := s.opts.Steps.StepStatus(r.PathValue("txn"), attempt)
	if !ok {
		return nil, fmt.Errorf("%w: this node has no attempt %d of transaction %s", fsm.ErrNotFound, attempt, r.PathValue("txn"))
	}
	return st, nil
}

func (s *Server) cancelStep(r *http.Request) (any, error) {
	txnID := r.PathValue("txn")
	if err := fsm.ValidateTxnID(txnID); err != nil {
		return nil, err
	}
	attempt, err := strconv.ParseUint(r.PathValue("attempt"), 10, 64)
	if err != nil {
		return nil, badRequest("attempt %q: want a positive integer", r.PathValue("attempt"))
	}
	var req api.CancelRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := s.requireLeader(r, "step cancels"); err != nil {
		return nil, err
	}
	if len(req.Reason) > MaxCancelReason {
		return nil, badRequest("reason: %d bytes, want at most %d", len(req.Reason), MaxCancelReason)
	}
	return s.opts.Steps.CancelStep(r.Context(), txnID, attempt, req.Reason)
}

func (s *Server) stepLogs(r *http.Request) (any, error) {
	txnID := r.PathValue("txn")
	if err := fsm.ValidateTxnID(txnID); err != nil {
		return nil, err
	}
	return s.opts.Steps.StepLogs(r.Context(), txnID)
}

// diagnostic serves GET /v1/internal/diagnostic[?health=false]: this
// node's probe, never forwarded. It needs the agent scope (scopes.go),
// since the form without ?health=false runs the health hook on the node.
func (s *Server) diagnostic(w http.ResponseWriter, r *http.Request) {
	health := r.URL.Query().Get("health") != "false"
	s.serve(w, r, func(r *http.Request) (any, error) { return s.opts.Steps.Diagnostic(r.Context(), health), nil })
}

// upgradeLogsProtocol is the protocol that brought the nodes' hook output
// route, which GET /v1/upgrades/{id}/logs gathers from.
const upgradeLogsProtocol = 3

// upgradeLogs serves GET /v1/upgrades/{id}/logs?node=ID&hook=NAME: the
// hook output of every node of the transaction (id, "active" or
// "latest"), gathered by this agent, whichever it is.
func (s *Server) upgradeLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := validTxnRef(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	if node := q.Get("node"); node != "" {
		if err := fsm.ValidateID(node); err != nil {
			writeError(w, err)
			return
		}
	}
	s.serve(w, r, func(r *http.Request) (any, error) {
		return s.opts.Upgrades.Logs(r.Context(), r.PathValue("id"), q.Get("node"), q.Get("hook"))
	})
}

package rpc

import (
	"context"
	"fmt"
	"net/http"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Service is the node-side part of the service's switch-over
// (docs/switchover.md): running this node's role and lag hooks (reads) and
// its promote, demote and follow hooks (writes). Every route is protocol 3
// and needs the agent token, since each runs a hook.
type Service interface {
	// ServiceProbe runs the role hook and, with lag, the lag hook.
	ServiceProbe(ctx context.Context, lag bool) api.ServiceProbe
	// ServiceAction runs the promote, demote or follow hook for the
	// switch-over req names. It refuses (wrapping fsm.ErrStale) when this
	// node's state does not show that switch-over in req.Phase, and
	// (wrapping fsm.ErrInvalid) an unknown action; a hook that fails is a
	// result with Error set.
	ServiceAction(ctx context.Context, action string, req api.ServiceActionRequest) (api.ServiceActionResult, error)
}

// serviceRoutes adds the node's service routes when the build speaks the
// protocol that introduced them.
func (s *Server) serviceRoutes() {
	if s.opts.Service == nil || s.opts.Speaks < fsm.CommandProtocol(fsm.CmdSwitchoverBegin) {
		return
	}
	s.mux.Handle("GET /v1/internal/service", s.localWrite(s.serviceProbe))
	s.mux.Handle("POST /v1/internal/service/{action}", s.localWrite(s.serviceAction))
}

func (s *Server) serviceProbe(r *http.Request) (any, error) {
	return s.opts.Service.ServiceProbe(r.Context(), r.URL.Query().Get("lag") == "true"), nil
}

func (s *Server) serviceAction(r *http.Request) (any, error) {
	action := r.PathValue("action")
	switch action {
	case api.HookPromote, api.HookDemote, api.HookFollow:
	default:
		return nil, fmt.Errorf("%w: no route POST %s (actions: promote, demote, follow)", fsm.ErrNotFound, r.URL.Path)
	}
	var req api.ServiceActionRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := fsm.ValidateTxnID(req.TxnID); err != nil {
		return nil, err
	}
	noteAudit(r, "txn", req.TxnID)
	if err := s.requireLeader(r, "service actions"); err != nil {
		return nil, err
	}
	for _, id := range []string{req.OldPrimary, req.NewPrimary} {
		if err := fsm.ValidateID(id); err != nil {
			return nil, err
		}
	}
	return s.opts.Service.ServiceAction(r.Context(), action, req)
}

// switchoverOut is a switch-over as the API shows it.
func switchoverOut(sw fsm.Switchover) api.Switchover {
	return api.Switchover{OldPrimary: sw.OldPrimary, Candidate: sw.Candidate, Phase: string(sw.Phase),
		Diagnostic: sw.Diagnostic, CandidateLag: sw.CandidateLag, MaxLag: sw.MaxLag, StartedAt: sw.StartedAt,
		UpdatedAt: sw.UpdatedAt, Note: sw.Note, Error: sw.Error}
}

// serviceTxnOut adds a transaction's service fields to its API form.
func serviceTxnOut(t *fsm.Txn, out *api.Txn) {
	out.MaxLag = t.MaxLag
	for _, sw := range t.Switchovers {
		out.Switchovers = append(out.Switchovers, switchoverOut(sw))
	}
}

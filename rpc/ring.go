package rpc

import (
	"context"
	"net/http"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Ring is the leader-side logic of the failover ring and the gateway
// registry (S2, protocol 3; docs/ring.md). The coordinator implements it.
type Ring interface {
	// Ring reads the failover ring from this agent's state.
	Ring() api.Ring
	// SetRing validates order and commits it as the ring (leader only).
	SetRing(ctx context.Context, order []string) (api.Ring, error)
	// RegisterGateway commits a gateway's registration (leader only); a
	// name already registered is answered as it is.
	RegisterGateway(ctx context.Context, name string) (api.Gateway, error)
	// GatewaySeen keeps a gateway's report in the leader's memory (leader
	// only; never a log entry). A name not registered wraps
	// fsm.ErrNotFound.
	GatewaySeen(ctx context.Context, name string, index uint64) (api.Gateway, error)
	// DeregisterGateway commits a gateway's leave (leader only).
	DeregisterGateway(ctx context.Context, name string) error
	// Gateways lists the registered gateways with what this agent, the
	// leader, remembers of their reports.
	Gateways() []api.Gateway
	// RecordServiceAddr commits a member's service address, or, empty,
	// that it names none (leader only).
	RecordServiceAddr(ctx context.Context, c fsm.MemberService) error
}

// ringProtocol is the protocol that introduced the ring, service
// addresses and the gateway registry.
var ringProtocol = fsm.CommandProtocol(fsm.CmdRingSet)

// ringRoutes adds the ring and gateway routes when the build speaks the
// protocol that introduced them.
func (s *Server) ringRoutes() {
	if s.opts.Ring == nil || s.opts.Speaks < ringProtocol {
		return
	}
	s.mux.Handle("POST /v1/members/{id}/service", s.write(s.memberService))
	s.mux.Handle("GET /v1/ring", s.read(s.getRing))
	s.mux.Handle("PUT /v1/ring", s.write(s.setRing))
	s.mux.Handle("POST /v1/gateways", s.write(s.registerGateway))
	s.mux.Handle("POST /v1/gateways/{name}/seen", s.write(s.gatewaySeen))
	s.mux.Handle("DELETE /v1/gateways/{name}", s.write(s.deregisterGateway))
	// The reports live in the leader's memory: the list is always the
	// leader's, whatever agent is asked.
	s.mux.Handle("GET /v1/gateways", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.forwardToLeader(w, r, func() { s.localRead(w, r, s.listGateways) })
	}))
}

func (s *Server) getRing(*http.Request) (any, error) { return s.opts.Ring.Ring(), nil }

func (s *Server) setRing(r *http.Request) (any, error) {
	var req api.RingRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Order) > fsm.MaxRing {
		return nil, badRequest("order: %d ids, want at most %d", len(req.Order), fsm.MaxRing)
	}
	for _, id := range req.Order {
		if err := fsm.ValidateID(id); err != nil {
			return nil, err
		}
	}
	return s.opts.Ring.SetRing(r.Context(), req.Order)
}

func (s *Server) registerGateway(r *http.Request) (any, error) {
	var req api.GatewayRegistration
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := fsm.ValidateGatewayName(req.Name); err != nil {
		return nil, err
	}
	return s.opts.Ring.RegisterGateway(r.Context(), req.Name)
}

func (s *Server) gatewaySeen(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := fsm.ValidateGatewayName(name); err != nil {
		return nil, err
	}
	var req api.GatewaySeen
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.opts.Ring.GatewaySeen(r.Context(), name, req.Index)
}

func (s *Server) deregisterGateway(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := fsm.ValidateGatewayName(name); err != nil {
		return nil, err
	}
	if err := s.opts.Ring.DeregisterGateway(r.Context(), name); err != nil {
		return nil, err
	}
	return map[string]string{"deregistered": name}, nil
}

func (s *Server) listGateways(*http.Request) (any, error) { return s.opts.Ring.Gateways(), nil }

func (s *Server) memberService(r *http.Request) (any, error) {
	var req api.MemberService
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	c := fsm.MemberService{ID: r.PathValue("id"), ServiceAddr: req.ServiceAddr}
	if err := fsm.ValidateID(c.ID); err != nil {
		return nil, err
	}
	if req.ID != "" && req.ID != c.ID {
		return nil, badRequest("body names member %q, the path %q", req.ID, c.ID)
	}
	if err := s.requireNode(r, c.ID, "the service address report"); err != nil {
		return nil, err
	}
	if err := fsm.ValidateServiceAddr(c.ServiceAddr); err != nil {
		return nil, err
	}
	if err := s.opts.Ring.RecordServiceAddr(r.Context(), c); err != nil {
		return nil, err
	}
	return api.MemberService{ID: c.ID, ServiceAddr: c.ServiceAddr}, nil
}

package rpc

import (
	"context"
	"fmt"
	"net/http"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
)

// Clients serves the client agents' routes on a server (protocol 3;
// docs/clients.md). Both run on the leader: the server a client calls
// forwards them.
type Clients interface {
	// RegisterClient commits a client's record (client.register).
	RegisterClient(ctx context.Context, m fsm.Member) (fsm.Member, error)
	// PollClient renews client id's lease, takes its reports, and answers
	// with its work, waiting up to the request's wait when there is none.
	PollClient(ctx context.Context, id string, req api.PollRequest) (api.PollResponse, error)
}

// clientProtocol is the protocol of the client routes.
var clientProtocol = fsm.CommandProtocol(fsm.CmdClientRegister)

func (s *Server) clientRoutes() {
	if s.opts.Clients == nil || s.opts.Speaks < clientProtocol {
		return
	}
	s.mux.Handle("POST /v1/clients", s.write(s.registerClient))
	s.mux.Handle("POST /v1/clients/{id}/poll", s.write(s.pollClient))
}

// registerClient serves POST /v1/clients. A client with a key on record
// must sign with it; a first registration must be signed with the key it
// registers (it proves the key by itself, as a server's first join does).
func (s *Server) registerClient(r *http.Request) (any, error) {
	var reg api.ClientRegistration
	if err := decode(r, &reg); err != nil {
		return nil, err
	}
	m := clientIn(reg)
	if err := fsm.ValidateMember(m); err != nil {
		return nil, err
	}
	if err := fsm.ValidateNodeKey(m.NodeKey); err != nil {
		return nil, err
	}
	noteAudit(r, "client", m.ID)
	if s.nodeKey(m.ID) != "" {
		if err := s.requireNode(r, m.ID, "the registration"); err != nil {
			return nil, err
		}
	} else if err := provesKey(r, m.ID, m.NodeKey); err != nil {
		return nil, err
	}
	out, err := s.opts.Clients.RegisterClient(r.Context(), m)
	if err != nil {
		return nil, err
	}
	return memberOut(out, false), nil
}

// provesKey checks that r is signed as id with key: a client's first
// registration.
func provesKey(r *http.Request, id, key string) error {
	v := r.Header.Get(nodeauth.Header)
	if v == "" {
		return fmt.Errorf("%w: a client's registration must be signed with the node key it registers (%s)", api.ErrForbidden, nodeauth.Header)
	}
	sig, err := nodeauth.Parse(v)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", api.ErrForbidden, nodeauth.Header, err)
	}
	if sig.ID != id {
		return fmt.Errorf("%w: the registration of client %s is signed as %q", api.ErrForbidden, id, clipID(sig.ID))
	}
	if err := verifySignature(r, bodyOf(r), sig, key); err != nil {
		return fmt.Errorf("%w: the registration of client %s is not signed with the key it registers: %v", api.ErrForbidden, id, err)
	}
	return nil
}

// pollClient serves POST /v1/clients/{id}/poll: only the client itself
// may poll for its work.
func (s *Server) pollClient(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := fsm.ValidateID(id); err != nil {
		return nil, err
	}
	var req api.PollRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	var client, known bool
	s.b.FSM().View(func(st *fsm.State) {
		m, ok := st.Members[id]
		known, client = ok, m.Client
	})
	if !known {
		return nil, fmt.Errorf("%w: client %q is not in the catalogue: it registers first (POST /v1/clients)", fsm.ErrNotFound, id)
	}
	if !client {
		return nil, fmt.Errorf("%w: member %q is a server, not a client agent", fsm.ErrInvalid, id)
	}
	if s.nodeKey(id) == "" || callerOf(r).Node != id {
		return nil, fmt.Errorf("%w: the poll of client %s is accepted only when signed by %s itself; this request is from %s",
			api.ErrForbidden, id, id, callerOf(r).Name())
	}
	for _, st := range req.Steps {
		if st.Node != id {
			return nil, badRequest("the poll of client %s reports a step of %q", id, clipID(st.Node))
		}
	}
	return s.opts.Clients.PollClient(r.Context(), id, req)
}

// clientIn is the catalogue record a client's registration asks for.
func clientIn(reg api.ClientRegistration) fsm.Member {
	return fsm.Member{ID: reg.ID, Version: reg.Version, Protocol: protocolRangeIn(reg.Protocol),
		Labels: copyLabels(reg.Labels), NodeKey: reg.NodeKey, Client: true}
}

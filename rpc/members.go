package rpc

import (
	"fmt"
	"net/http"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
)

func (s *Server) listMembers(r *http.Request) (any, error) {
	leaderID, _ := s.b.Leader()
	out := []api.Member{}
	s.b.FSM().View(func(st *fsm.State) {
		for _, m := range st.MemberList() {
			out = append(out, memberOut(m, m.ID == leaderID))
		}
	})
	return out, nil
}

func (s *Server) join(r *http.Request) (any, error) {
	var req api.JoinRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	m := memberIn(req)
	if err := fsm.ValidateMember(m); err != nil {
		return nil, err
	}
	noteAudit(r, "member", m.ID)
	// A join that would change a member's record (a re-join from its Raft
	// address, or a move from its prior one) needs the member's identity;
	// one from another address is a conflict, which Join reports.
	var recorded string
	s.b.FSM().View(func(st *fsm.State) { recorded = st.Members[m.ID].RaftAddr })
	if recorded == m.RaftAddr || req.PriorRaftAddr != "" {
		if err := s.requireNode(r, m.ID, "the join"); err != nil {
			return nil, err
		}
	}
	if req.PriorRaftAddr != "" && req.PriorRaftAddr != req.RaftAddr {
		// An agent back from its data dir at a new --raft-addr: move it
		// first, and the join below refreshes the rest of its record.
		if err := s.b.MoveMember(r.Context(), moveIn(req)); err != nil {
			return nil, err
		}
	}
	// Conflicts are judged by the backend, on state confirmed by a barrier.
	joined, err := s.b.Join(r.Context(), m)
	if err != nil {
		return nil, err
	}
	leaderID, _ := s.b.Leader()
	return memberOut(joined, joined.ID == leaderID), nil
}

func (s *Server) leave(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := fsm.ValidateID(id); err != nil {
		return nil, err
	}
	force := false
	switch v := r.URL.Query().Get("force"); v {
	case "", "false":
	case "true":
		force = true
	default:
		return nil, badRequest("force=%q: want true or false", v)
	}
	return s.b.RemoveMember(r.Context(), id, force)
}

func (s *Server) leader(r *http.Request) (any, error) {
	id, _ := s.b.Leader()
	if id == "" {
		return nil, fmt.Errorf("%w: no leader is known to %s", api.ErrNoLeader, s.b.ID())
	}
	info := api.LeaderInfo{ID: id}
	s.b.FSM().View(func(st *fsm.State) {
		m := st.Members[id]
		info.RaftAddr, info.HTTPAddr = m.RaftAddr, m.HTTPAddr
	})
	return info, nil
}

func (s *Server) transfer(r *http.Request) (any, error) {
	var req api.TransferRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return nil, err
		}
	}
	if req.To != "" {
		if err := fsm.ValidateID(req.To); err != nil {
			return nil, err
		}
	}
	leader, err := s.b.TransferLeadership(r.Context(), req.To)
	if err != nil {
		return nil, err
	}
	return api.TransferResponse{Leader: leader}, nil
}

func (s *Server) health(r *http.Request) (any, error) { return s.b.Health(), nil }

func (s *Server) memberStatus(r *http.Request) (any, error) {
	var b api.BuildInfo
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	st := fsm.MemberStatus{ID: r.PathValue("id"), Build: buildInfoIn(b)}
	if err := fsm.ValidateID(st.ID); err != nil {
		return nil, err
	}
	if err := s.requireNode(r, st.ID, "the build report"); err != nil {
		return nil, err
	}
	if err := fsm.ValidateVersion(st.Build.Version); err != nil {
		return nil, err
	}
	if err := s.b.ReportStatus(r.Context(), st); err != nil {
		return nil, err
	}
	return memberStatusOut(st), nil
}

func (s *Server) memberVersionError(r *http.Request) (any, error) {
	var req api.MemberVersionError
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	c := fsm.MemberVersionError{ID: r.PathValue("id"), Error: req.Error}
	if err := fsm.ValidateID(c.ID); err != nil {
		return nil, err
	}
	if err := s.requireNode(r, c.ID, "the version report"); err != nil {
		return nil, err
	}
	if req.ID != "" && req.ID != c.ID {
		return nil, badRequest("body names member %q, the path %q", req.ID, c.ID)
	}
	if len(c.Error) > fsm.MaxVersionError {
		return nil, fmt.Errorf("%w: version error of %q: %d bytes, want at most %d", fsm.ErrInvalid, c.ID, len(c.Error), fsm.MaxVersionError)
	}
	if err := s.b.ReportVersionError(r.Context(), c); err != nil {
		return nil, err
	}
	return api.MemberVersionError{ID: c.ID, Error: c.Error}, nil
}

// memberKey serves POST /v1/members/{id}/key: the public key of a
// member's node identity. The request must be signed with the key it
// registers (so nobody registers a key they do not hold), and a member
// with a key on record keeps it (the state machine refuses another).
func (s *Server) memberKey(r *http.Request) (any, error) {
	var req api.MemberKey
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	k := fsm.MemberKey{ID: r.PathValue("id"), Key: req.Key}
	if err := fsm.ValidateID(k.ID); err != nil {
		return nil, err
	}
	if req.ID != "" && req.ID != k.ID {
		return nil, badRequest("body names member %q, the path %q", clipID(req.ID), k.ID)
	}
	if err := fsm.ValidateNodeKey(k.Key); err != nil {
		return nil, err
	}
	if err := s.provesKey(r, k); err != nil {
		return nil, err
	}
	switch old := s.nodeKey(k.ID); old {
	case k.Key:
		return api.MemberKey{ID: k.ID, Key: k.Key}, nil
	case "":
	default:
		return nil, fmt.Errorf("%w: member %s already has another node key on record; a node that lost its data dir is removed "+
			"(baton members remove %s --force) and joins again", fsm.ErrConflict, k.ID, k.ID)
	}
	if err := s.b.SetNodeKey(r.Context(), k); err != nil {
		return nil, err
	}
	return api.MemberKey{ID: k.ID, Key: k.Key}, nil
}

// provesKey refuses a key registration not signed, as member k.ID, with
// the key it registers.
func (s *Server) provesKey(r *http.Request, k fsm.MemberKey) error {
	sig, err := nodeauth.Parse(r.Header.Get(nodeauth.Header))
	if err == nil && sig.ID != k.ID {
		err = fmt.Errorf("signed as %q", clipID(sig.ID))
	}
	if err == nil {
		err = verifySignature(r, bodyOf(r), sig, k.Key)
	}
	if err != nil {
		return fmt.Errorf("%w: a node key is registered only by a request signed with it (%s): %v", api.ErrForbidden, nodeauth.Header, err)
	}
	return nil
}

func (s *Server) protocol(r *http.Request) (any, error) {
	out := api.ProtocolInfo{Members: map[string]api.ProtocolRange{}}
	s.b.FSM().View(func(st *fsm.State) {
		out.Active = st.ProtocolVersion
		for id, m := range st.Members {
			out.Members[id] = ProtocolRangeOut(m.Protocol)
		}
	})
	return out, nil
}

// operatorProtocol is the protocol that introduced GET /v1/operator/raft
// (and the fields of /v1/health it reads): the protocol of the forced
// removal it came with.
var operatorProtocol = fsm.CommandProtocol(fsm.CmdMemberForceLeave)

// operatorRaft serves GET /v1/operator/raft. A report without a leader is
// still a 200: its diagnosis is the answer the operator needs.
func (s *Server) operatorRaft(r *http.Request) (any, error) { return s.b.RaftReport(r.Context()), nil }

package rpc

import (
	"fmt"
	"net/http"

	"github.com/baton-upgrade/baton/fsm"
)

func (s *Server) listMembers(r *http.Request) (any, error) {
	leaderID, _ := s.b.Leader()
	var out []Member
	s.b.FSM().View(func(st *fsm.State) {
		for _, m := range st.MemberList() {
			out = append(out, Member{Member: m, Leader: m.ID == leaderID})
		}
	})
	if out == nil {
		out = []Member{}
	}
	return out, nil
}

func (s *Server) join(r *http.Request) (any, error) {
	var m fsm.Member
	if err := decode(r, &m); err != nil {
		return nil, err
	}
	if err := fsm.ValidateMember(m); err != nil {
		return nil, err
	}
	// Conflicts are judged by the backend, on state confirmed by a barrier.
	return s.b.Join(r.Context(), m)
}

func (s *Server) leave(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := fsm.ValidateID(id); err != nil {
		return nil, err
	}
	if err := s.b.Leave(r.Context(), id); err != nil {
		return nil, err
	}
	return map[string]string{"removed": id}, nil
}

func (s *Server) leader(r *http.Request) (any, error) {
	id, _ := s.b.Leader()
	if id == "" {
		return nil, fmt.Errorf("%w: no leader is known to %s", ErrNoLeader, s.b.ID())
	}
	info := LeaderInfo{ID: id}
	s.b.FSM().View(func(st *fsm.State) {
		m := st.Members[id]
		info.RaftAddr, info.HTTPAddr = m.RaftAddr, m.HTTPAddr
	})
	return info, nil
}

func (s *Server) transfer(r *http.Request) (any, error) {
	var req TransferRequest
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
	return TransferResponse{Leader: leader}, nil
}

func (s *Server) health(r *http.Request) (any, error) { return s.b.Health(), nil }

func (s *Server) memberStatus(r *http.Request) (any, error) {
	var b fsm.BuildInfo
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	st := fsm.MemberStatus{ID: r.PathValue("id"), Build: b}
	if err := fsm.ValidateID(st.ID); err != nil {
		return nil, err
	}
	if err := s.b.ReportStatus(r.Context(), st); err != nil {
		return nil, err
	}
	return st, nil
}

// ProtocolInfo is the cluster's active protocol version and what each
// member speaks.
type ProtocolInfo struct {
	Active  int                          `json:"active"`
	Members map[string]fsm.ProtocolRange `json:"members"`
}

func (s *Server) protocol(r *http.Request) (any, error) {
	out := ProtocolInfo{Members: map[string]fsm.ProtocolRange{}}
	s.b.FSM().View(func(st *fsm.State) {
		out.Active = st.ProtocolVersion
		for id, m := range st.Members {
			out.Members[id] = m.Protocol
		}
	})
	return out, nil
}

package rpc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// forwardToLeader relays a request to the leader's API and copies its answer
// back. The leader itself, or an agent that wins leadership while the request waits, it serves the
// request itself with local. A request that was already forwarded once is not
// forwarded again: leadership moved while it travelled, and the caller should
// retry.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request, local func()) {
	if s.b.IsLeader() {
		local()
		return
	}
	if by := r.Header.Get(ForwardedHeader); by != "" {
		writeError(w, fmt.Errorf("%w: %s forwarded this request here, but this agent (%s) is not the leader; retry",
			ErrNoLeader, by, s.b.ID()))
		return
	}
	addr, err := s.waitForLeader(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if addr == "" {
		local()
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, badRequest("read body: %v", err))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeError(w, fmt.Errorf("forward to leader %s: %w", addr, err))
		return
	}
	req.Header = r.Header.Clone()
	req.Header.Set(ForwardedHeader, s.b.ID())
	resp, err := s.forward.Do(req)
	if err != nil {
		writeError(w, fmt.Errorf("%w: forward to leader at %s: %v", ErrNoLeader, addr, err))
		return
	}
	defer resp.Body.Close()
	s.catchUp(r.Context(), resp)
	for _, h := range []string{"Content-Type", IndexHeader} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// waitForLeader returns the leader's API address, waiting up to LeaderWait
// for an election to finish. It returns "" when this agent is the leader.
func (s *Server) waitForLeader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.LeaderWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.b.IsLeader() {
			return "", nil
		}
		if id, addr := s.b.Leader(); addr != "" && id != s.b.ID() {
			return addr, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: no leader elected after %s (is a quorum of voters up?)", ErrNoLeader, s.opts.LeaderWait)
		case <-tick.C:
		}
	}
}

// catchUp waits (briefly) until this agent has applied the leader's answer
// to a forwarded write, so that a client reading from this agent right
// after its write sees it.
func (s *Server) catchUp(ctx context.Context, resp *http.Response) {
	if resp.StatusCode >= 300 {
		return
	}
	index, err := strconv.ParseUint(resp.Header.Get(IndexHeader), 10, 64)
	if err != nil || index == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.b.FSM().WaitIndex(ctx, index-1)
}

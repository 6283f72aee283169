package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// forwardToLeader relays a request to the leader's API and copies its answer
// back, status, body and error code unchanged, so a client reads the
// leader's verdict as if it had asked the leader. The leader itself, or an
// agent that wins leadership while the request waits, serves the request
// with local. A request that was already forwarded once is not forwarded
// again: leadership moved while it travelled, and the caller should retry.
//
// When the leader cannot be asked, the answer says whether the write may
// have happened: api.ErrNoLeader when no connection to it could be opened
// (nothing was sent), api.ErrUnknownOutcome when the request may have
// reached it and no answer came back.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request, local func()) {
	if s.b.IsLeader() {
		local()
		return
	}
	if by := r.Header.Get(api.ForwardedHeader); by != "" {
		writeError(w, fmt.Errorf("%w: %s forwarded this request here, but this agent (%s) is not the leader; retry",
			api.ErrNoLeader, by, s.b.ID()))
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
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, bodyError(err))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, s.agentScheme()+"://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeError(w, fmt.Errorf("forward to leader %s: %w", addr, err))
		return
	}
	req.Header = r.Header.Clone()
	req.Header.Set(api.ForwardedHeader, s.b.ID())
	resp, err := s.forward.Do(req)
	if err != nil {
		writeError(w, forwardError(r.Method, addr, err))
		return
	}
	defer resp.Body.Close()
	s.catchUp(r.Context(), resp)
	for _, h := range []string{"Content-Type", api.IndexHeader} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// forwardError is what a client learns when a request forwarded to the
// leader at addr got no answer. A connection that could not be opened sent
// nothing; otherwise a write may have reached the leader and committed,
// which only a read can tell. A read changes nothing either way.
func forwardError(method, addr string, err error) error {
	var op *net.OpError
	if method == http.MethodGet || errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%w: forward to leader at %s: %v", api.ErrNoLeader, addr, err)
	}
	return fmt.Errorf("%w: forwarded to leader at %s, no answer: %v", api.ErrUnknownOutcome, addr, err)
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
			return "", fmt.Errorf("%w: no leader elected after %s (is a quorum of voters up?)", api.ErrNoLeader, s.opts.LeaderWait)
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
	index, err := strconv.ParseUint(resp.Header.Get(api.IndexHeader), 10, 64)
	if err != nil || index == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s.b.FSM().WaitIndex(ctx, index-1)
}

package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
)

// errNoticesPending makes a registration wait: a completion notice not yet
// acknowledged may carry a newer version than the catalogue holds, and a
// registration committed before it would be overtaken by it, or worse,
// overtake it.
var errNoticesPending = errors.New("completion notices not yet acknowledged")

// Register makes sure this agent's catalogue record is current: it asks the
// cluster (through the members in Join, or through its own API, which
// forwards to the leader) to admit it, retrying while no leader is reachable.
// It fails on a refusal (a conflicting id or address) or when ctx ends.
//
// The version it registers is read when the registration is sent, with no
// step running and every completion notice acknowledged, and no step may
// start until the registration is answered: a registration can never
// carry a reading older than what a step's notice told the catalogue. (An
// agent restarted during its step used to register what its version hook
// printed at start-up, after its step had finished, and turned the
// catalogue back to the old version.)
//
// An agent back from its data dir asks its own API first, which forwards to
// the leader it knows, then, in a cluster of protocol 3, the other members
// it knows of (its catalogue, its peers file, --join): one that knows no
// leader (its --raft-addr changed, so no heartbeat reaches it) still finds
// one that way. Before it joins through a peer it asks whether the leader
// still counts it in, and stops with ErrRemoved if not: a join would admit
// a removed member again. An agent whose --raft-addr changed asks to be
// moved there (see MoveMember).
func (a *Agent) Register(ctx context.Context) error {
	targets := a.cfg.Join
	if a.parts.existing || len(targets) == 0 {
		targets = []string{a.cfg.HTTPAddr}
		if p := a.knownProtocol(); p == 0 || p >= fsm.CommandProtocol(fsm.CmdMemberForceLeave) {
			targets = append(targets, a.peerAPIs()...)
		}
	}
	if a.parts.existing {
		// Through its own API too, a join may reach a leader that removed
		// this agent while it was down, and admit it again: before the
		// first registration, ask the peers whether the cluster still
		// counts it in. A peer that cannot tell leaves the question to
		// the next one; none that can leaves it to the checks below.
		for _, peer := range a.peerAPIs() {
			removed, why, err := a.membershipVia(ctx, peer)
			if removed {
				a.log.Error(LogRemoved, "reason", why)
				return a.removedError(why)
			}
			if err == nil {
				break
			}
		}
	}
	backoff := 100 * time.Millisecond
	waitingLogged := false
	for attempt := 0; ; attempt++ {
		target := targets[attempt%len(targets)]
		if a.parts.existing && target != a.cfg.HTTPAddr {
			// Through a peer, a join would admit this agent even if
			// the cluster removed it: ask first whether it still
			// counts this agent in.
			removed, why, err := a.membershipVia(ctx, target)
			if removed {
				a.log.Error(LogRemoved, "reason", why)
				return a.removedError(why)
			}
			if err != nil {
				a.log.Debug("no registration through this peer", "via", target, "error", err)
				if !a.sleep(ctx, &backoff) {
					return fmt.Errorf("join: gave up after %d attempts: last error: %w", attempt+1, err)
				}
				continue
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := a.exec.WhileIdle(wctx, func() error {
			if n := a.notices.len(); n > 0 {
				return fmt.Errorf("%w: %d", errNoticesPending, n)
			}
			jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			_, err := a.client(target).Join(jctx, a.joinRequest(jctx))
			return err
		})
		cancel()
		if err == nil {
			a.log.Info("registered in the catalogue", "via", target, "version", a.currentVersion())
			a.registered.Store(true)
			a.pokeVersionReport()
			a.pokeServiceAddr() // service_addr.go
			return nil
		}
		var apiErr *api.APIError
		switch {
		case errors.As(err, &apiErr) && !errors.Is(err, api.ErrNoLeader) && !api.Indeterminate(err):
			// The cluster answered no: a conflicting id or address, a
			// protocol it does not speak, a wrong token.
			if a.priorRaftAddr != "" && errors.Is(err, api.ErrConflict) {
				return fmt.Errorf("join via %s refused: %w (--raft-addr changed from %s to %s: restart with --raft-addr %s, "+
					"or remove this member, empty --data-dir and --join again)", target, err, a.priorRaftAddr, a.cfg.RaftAddr, a.priorRaftAddr)
			}
			return fmt.Errorf("join via %s refused: %w", target, err)
		case errors.Is(err, errNoticesPending) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil):
			if !waitingLogged {
				a.log.Info("registration waits until this node's step has finished and its notice is acknowledged", "reason", err)
				waitingLogged = true
			}
		default:
			a.log.Debug("join not yet possible", "via", target, "error", err)
		}
		if !a.sleep(ctx, &backoff) {
			return fmt.Errorf("join: gave up after %d attempts: last error: %w", attempt+1, err)
		}
	}
}

// sleep waits *backoff, doubling it up to 2 s, and reports whether ctx
// lasted.
func (a *Agent) sleep(ctx context.Context, backoff *time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*backoff):
	}
	*backoff = min(*backoff*2, 2*time.Second)
	return true
}

// joinRequest is this agent's registration, with the version read now. An
// agent whose --raft-addr changed names the address its Raft state held,
// so the leader moves it, but only to a cluster known to speak protocol 3
// (an older build would refuse the unknown field); one that knows nothing
// of the cluster's protocol sends it too.
func (a *Agent) joinRequest(ctx context.Context) api.JoinRequest {
	req := rpc.JoinRequestOut(a.observeSelf(ctx))
	if a.priorRaftAddr == "" {
		return req
	}
	if protocol := a.knownProtocol(); protocol == 0 || protocol >= fsm.CommandProtocol(fsm.CmdMemberMove) {
		req.PriorRaftAddr = a.priorRaftAddr
	}
	return req
}

// observeSelf is this agent's catalogue record with the version read now.
// When the version hook fails, the record keeps what the catalogue already
// says of this node, and only a node the catalogue does not know yet falls
// back to the last reading, which is none (an unknown version) when the
// hook has never worked: never the agent's own build version. Why the hook
// failed reaches the catalogue through reportVersionError.
func (a *Agent) observeSelf(ctx context.Context) fsm.Member {
	self := a.Self()
	if a.exec.Hooks().Version == "" {
		return self
	}
	v, err := a.readVersion(ctx)
	if err == nil {
		self.Version = v
		return self
	}
	a.fsm.View(func(s *fsm.State) {
		if m, ok := s.Members[a.cfg.ID]; ok && m.Version != "" {
			self.Version = m.Version
		}
	})
	if self.Version == "" {
		a.log.Warn("version hook failed; registering the version as unknown", "error", err)
	} else {
		a.log.Warn("version hook failed; registering the version last known", "version", self.Version, "error", err)
	}
	return self
}

// readVersion runs the version hook and keeps what it printed as this
// node's version, or why it failed.
func (a *Agent) readVersion(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.exec.Hooks().EffectiveTimeout())
	defer cancel()
	v, err := a.exec.CurrentVersion(ctx)
	if ctx.Err() != nil && a.ctx.Err() != nil {
		return "", err // the agent is stopping: nothing was learnt
	}
	a.noteVersion(v, err)
	return v, err
}

// currentVersion is the version this node last found it runs.
func (a *Agent) currentVersion() string {
	a.versionMu.Lock()
	defer a.versionMu.Unlock()
	return a.version
}

// Self is this agent's catalogue record as it would register it, with the
// version last read.
func (a *Agent) Self() fsm.Member {
	return fsm.Member{ID: a.cfg.ID, RaftAddr: a.cfg.RaftAddr, HTTPAddr: a.cfg.HTTPAddr,
		Version: a.currentVersion(), Protocol: a.cfg.Protocol, Labels: a.cfg.Labels}
}

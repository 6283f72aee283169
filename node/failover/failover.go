// Package failover lets a follower notice at once that the leader's process
// has died, and hastens the election that replaces it.
//
// Raft alone notices a dead leader only by silence: a follower's heartbeat
// timer fires at random between one and two HeartbeatTimeouts, and only
// then, if nothing came for a whole HeartbeatTimeout, does it stand for
// election; with the default one-second timeout that is one to three
// seconds after the crash. But when the leader's process dies and its host
// lives on, its ports refuse connections at once. A Watcher holds an idle
// connection to the leader's API; when it drops and a new one is refused,
// the follower lowers its heartbeat and election timeouts to the shortest
// Raft allows (the leader lease timeout) until a leader is known again. The
// follower then stands for election within one to two of those, if the
// leader is silent by then: the decision stays Raft's, on Raft's own
// evidence, so a false alarm costs nothing.
//
// A leader that is only cut off (no refusal, no answer) is left to Raft's
// own timeouts. The package never changes anything but this follower's
// timeouts, and restores them as soon as a leader is known.
package failover

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Agent is what the watcher needs from the local agent.
type Agent interface {
	// ID is this agent's member id.
	ID() string
	// Leader returns the leader's id and API address as this agent knows
	// them; empty strings when there is none.
	Leader() (id, httpAddr string)
	// Raft is the agent's Raft instance, whose timeouts the watcher
	// lowers and restores.
	Raft() *raft.Raft
}

// retry is how long the watcher waits before looking again when there is no
// leader to watch, or after a dial that neither connected nor was refused.
const retry = 50 * time.Millisecond

// LeaseTimeout is the leader lease timeout of an agent whose Raft timeouts
// are Raft's defaults scaled by multiplier (--raft-multiplier): the lowest
// heartbeat timeout Raft accepts, since the lease cannot change at run time.
func LeaseTimeout(multiplier float64) time.Duration {
	return time.Duration(float64(raft.DefaultConfig().LeaderLeaseTimeout) * multiplier)
}

// Watch watches the leader from this follower until ctx ends, restoring the
// timeouts it lowered before it returns. lease is the agent's leader lease
// timeout (see LeaseTimeout), the floor of the lowered timeouts.
func Watch(ctx context.Context, a Agent, lease time.Duration, log hclog.Logger) {
	w := &watcher{a: a, lease: lease, log: log.Named("failover")}
	defer w.restore()
	for ctx.Err() == nil {
		w.step(ctx)
	}
}

type watcher struct {
	a     Agent
	lease time.Duration
	log   hclog.Logger
	// saved holds the timeouts to restore while they are lowered; gone
	// names the leader whose death lowered them.
	saved *raft.ReloadableConfig
	gone  string
}

// step watches the current leader until its connection drops, or waits a
// little when there is nothing to watch.
func (w *watcher) step(ctx context.Context) {
	id, addr := w.a.Leader()
	if w.saved != nil && id != "" && id != w.gone {
		w.restore()
	}
	if id == "" || id == w.a.ID() || addr == "" {
		sleep(ctx, retry)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	cancel()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		w.leaderGone(id)
		sleep(ctx, retry)
		return
	case err != nil:
		sleep(ctx, retry)
		return
	}
	// A leader answers (the same one, if it came back and won again).
	w.restore()
	// The connection stays idle until the leader's API closes it (its
	// read-header timeout) or its process dies; either way the next dial
	// tells which. A change of leader ends the watch too: the new one is
	// the one to watch.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = conn.Read(make([]byte, 1))
	}()
	tick := time.NewTicker(retry)
	defer tick.Stop()
	defer conn.Close()
	for {
		select {
		case <-closed:
			return
		case <-ctx.Done():
			conn.Close()
			<-closed
			return
		case <-tick.C:
			if now, _ := w.a.Leader(); now != id {
				conn.Close()
				<-closed
				return
			}
		}
	}
}

// leaderGone lowers this follower's timeouts after the leader's process was
// found gone.
func (w *watcher) leaderGone(id string) {
	r := w.a.Raft()
	if w.saved != nil || r.State() != raft.Follower {
		return
	}
	cur := r.ReloadableConfig()
	floor := w.lease
	if floor <= 0 || cur.HeartbeatTimeout <= floor {
		return
	}
	fast := cur
	fast.HeartbeatTimeout, fast.ElectionTimeout = floor, floor
	if err := r.ReloadConfig(fast); err != nil {
		w.log.Warn("cannot lower the raft timeouts", "error", err)
		return
	}
	w.saved, w.gone = &cur, id
	w.log.Info("leader's process is gone; election timeouts lowered until a leader is known",
		"leader", id, "heartbeat_timeout", floor, "at", time.Now().UTC().Format(time.RFC3339Nano))
}

// restore puts back the timeouts leaderGone lowered.
func (w *watcher) restore() {
	if w.saved == nil {
		return
	}
	if err := w.a.Raft().ReloadConfig(*w.saved); err != nil {
		w.log.Warn("cannot restore the raft timeouts", "error", err)
		return
	}
	w.log.Info("raft timeouts restored", "heartbeat_timeout", w.saved.HeartbeatTimeout)
	w.saved, w.gone = nil, ""
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

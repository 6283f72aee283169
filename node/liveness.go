package node

import (
	"context"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/hashicorp/raft"
)

// heartbeats follows the leader's heartbeats to the other servers, from
// Raft's observations: a peer is failing from its first failed heartbeat
// until one succeeds again.
type heartbeats struct {
	mu      sync.Mutex
	failing map[string]failingPeer
	// forgotten holds when each removed (or moved) peer was forgotten:
	// observations of its old replication, which Raft may still deliver
	// after the removal, are older than that and are ignored.
	forgotten map[string]time.Time
}

type failingPeer struct {
	since    time.Time // the first failure seen (this agent's clock)
	lastSeen time.Time // Raft's last contact with the peer
}

func newHeartbeats() *heartbeats {
	return &heartbeats{failing: map[string]failingPeer{}, forgotten: map[string]time.Time{}}
}

// observe registers a Raft observer of heartbeat failures and recoveries
// and follows them until ctx ends. The observer never blocks Raft: its
// channel is large and Raft drops what does not fit.
func (h *heartbeats) observe(ctx context.Context, r *raft.Raft, wg *sync.WaitGroup) {
	ch := make(chan raft.Observation, 1024)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(obs)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.DeregisterObserver(obs)
		for {
			select {
			case <-ctx.Done():
				return
			case o := <-ch:
				h.record(o.Data, time.Now())
			}
		}
	}()
}

func (h *heartbeats) record(data any, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch o := data.(type) {
	case raft.FailedHeartbeatObservation:
		id := string(o.PeerID)
		if at, ok := h.forgotten[id]; ok && !o.LastContact.After(at) {
			return // the old replication of a peer removed since
		}
		p, ok := h.failing[id]
		if !ok {
			p.since = now
		}
		p.lastSeen = o.LastContact
		h.failing[id] = p
	case raft.ResumedHeartbeatObservation:
		delete(h.failing, string(o.PeerID))
	}
}

// forget drops what was seen of peer id at now: a removed server's
// replication stops without a "resumed" observation, and a new server under
// the same id must not inherit its failures. Failures Raft reports later
// with a last contact before now are the old replication's, still in
// flight, and are ignored; a new replication starts with a fresh last
// contact.
func (h *heartbeats) forget(id string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.failing, id)
	h.forgotten[id] = now
}

// reset forgets every failure: a new tenure as leader starts afresh.
func (h *heartbeats) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.failing)
}

// status is what the leader observes of peer id at now: unreachable once
// its heartbeats have failed for grace, with Raft's last contact.
func (h *heartbeats) status(id string, now time.Time, grace time.Duration) (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.failing[id]
	if !ok || now.Sub(p.since) < grace {
		return fsm.LivenessAlive, time.Time{}
	}
	seen := p.lastSeen
	if seen.IsZero() {
		seen = p.since
	}
	return fsm.LivenessUnreachable, seen
}

// livenessGrace is how long a server's heartbeats must fail before the
// leader records it unreachable: long enough that one lost heartbeat does
// not flap the record, short enough that an operator sees a dead node in
// seconds.
func (a *Agent) livenessGrace() time.Duration {
	return max(3*time.Second, 3*scale(raft.DefaultConfig().HeartbeatTimeout, a.cfg.RaftMultiplier))
}

// trackLiveness is a leader duty: it records in the catalogue, through
// member.liveness, each member the leader stops reaching and each it
// reaches again, so every agent answers `baton members` with the same
// status and a step waiting on a dead node can say so. It needs protocol 3
// and does nothing while the cluster speaks an older one.
func (a *Agent) trackLiveness(ctx context.Context) {
	a.heartbeats.reset()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a.recordLiveness(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// recordLiveness compares what the leader observes of each member with the
// catalogue, and commits every difference.
func (a *Agent) recordLiveness(ctx context.Context) {
	type change struct {
		id, status, was string
		lastSeen        time.Time
	}
	var changes []change
	now, grace := time.Now(), a.livenessGrace()
	a.fsm.View(func(s *fsm.State) {
		if s.ProtocolVersion < fsm.CommandProtocol(fsm.CmdMemberLiveness) {
			return
		}
		for id, m := range s.Members {
			status, seen := fsm.LivenessAlive, time.Time{}
			switch {
			case m.Client:
				status, seen = a.clientLiveness(id) // clients_pull.go
			case id != a.cfg.ID:
				status, seen = a.heartbeats.status(id, now, grace)
			}
			if m.Liveness == nil || m.Liveness.Status != status {
				c := change{id: id, status: status, lastSeen: seen}
				if m.Liveness != nil {
					c.was = m.Liveness.Status
				}
				changes = append(changes, c)
			}
		}
	})
	for _, c := range changes {
		if _, err := a.Apply(ctx, fsm.CmdMemberLiveness, fsm.MemberLiveness{ID: c.id, Status: c.status, LastSeen: c.lastSeen}); err != nil {
			a.log.Warn("could not record a member's liveness", "member", c.id, "status", c.status, "error", err)
			continue
		}
		switch {
		case c.status == fsm.LivenessUnreachable:
			a.log.Warn("member unreachable", "member", c.id, "last_seen", c.lastSeen.UTC().Format(time.RFC3339))
		case c.was == fsm.LivenessUnreachable:
			a.log.Info("member reachable again", "member", c.id)
		default:
			a.log.Debug("member reachable", "member", c.id)
		}
	}
}

package nemesis

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// lagLimit bounds how long a lag fault holds its node down while it moves
// the log on; a cluster without a leader that long is healed anyway.
const lagLimit = time.Minute

// lagCatchUp bounds the wait, after the heal, for the lagging node to
// apply the log the others moved on to.
const lagCatchUp = 30 * time.Second

// lagging is one lag fault in progress: a node held down while the others'
// log moves past what it holds and is compacted behind a snapshot.
type lagging struct {
	n      *nemesis
	victim string
	// from is the victim's last log index when it went down; target is
	// the index the others' log must reach for a snapshot to have
	// compacted the log past from (see lagTarget).
	from, target uint64
	// installed counts the victim's installed snapshots before the fault.
	installed int
	heal      func() error
	turn      int // which other node serves the next barrier
}

// lagTarget is the log index past which the others' log no longer holds
// the entry after from. Raft compacts its log up to min(snapshot index,
// last index - trailing) and snapshots at a check once threshold entries
// were added since its last snapshot. Once the log passes
// from+trailing+threshold, any snapshot taken compacts past from; and
// threshold entries later the next check must take one.
func lagTarget(from uint64, s procs.SnapshotSettings) uint64 {
	return from + s.TrailingLogs + 2*s.Threshold + 1
}

// lag takes a random live node down: cut off from every other agent when
// the suite has namespaces (half the time), killed otherwise.
func (n *nemesis) lag(ctx context.Context, f *history.Fault) (*lagging, error) {
	victim := n.pick(n.c.Live())
	if victim == "" {
		return nil, fmt.Errorf("no live node")
	}
	l := &lagging{n: n, victim: victim, from: n.lastIndex(ctx, victim)}
	if l.from == 0 {
		l.from = n.logIndex(ctx, victim)
	}
	l.target = lagTarget(l.from, n.c.Snapshots())
	l.installed = n.installed(victim)
	if n.c.CanPartition() && n.rng.Intn(2) == 0 {
		var pairs [][2]string
		for _, id := range n.c.IDs() {
			if id != victim {
				pairs = append(pairs, [2]string{victim, id})
			}
		}
		if err := n.c.Partition(pairs); err != nil {
			return nil, err
		}
		l.heal = n.c.HealNetwork
		f.Detail = fmt.Sprintf("%s cut off from every other agent at log index %d", victim, l.from)
	} else {
		n.c.Kill(victim)
		l.heal = func() error { return n.c.Restart(victim) }
		f.Detail = fmt.Sprintf("%s killed at log index %d", victim, l.from)
	}
	f.Nodes = []string{victim}
	return l, nil
}

// outrun holds the node down while the others' log moves past the target:
// the clients' writes move it, and consistent reads (each a Raft barrier,
// an entry of its own that changes nothing) make up the rest. Once there,
// it waits two snapshot intervals more, so that a snapshot past the target
// is taken and the log compacted behind it. It gives up at lagLimit or
// when ctx ends.
func (l *lagging) outrun(ctx context.Context, f *history.Fault) {
	settle := 2*l.n.c.Snapshots().Interval + time.Second
	deadline := time.Now().Add(lagLimit)
	var reached time.Time
	var index uint64
	for ctx.Err() == nil && time.Now().Before(deadline) {
		index = l.n.logIndex(ctx, l.victim)
		if index < l.target {
			l.barrier(ctx)
			continue
		}
		if reached.IsZero() {
			reached = time.Now()
		}
		if time.Since(reached) >= settle {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	f.Detail += fmt.Sprintf("; held until the others' log reached %d (target %d)", index, l.target)
}

// caughtUp waits, after the heal, until the victim has applied the log up
// to the target, and says in the fault's detail whether it got there by
// InstallSnapshot.
func (l *lagging) caughtUp(f *history.Fault) {
	ctx, cancel := context.WithTimeout(context.Background(), lagCatchUp)
	defer cancel()
	for ctx.Err() == nil {
		if h, err := l.n.health(ctx, l.victim); err == nil && h.AppliedIndex >= l.target {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if ctx.Err() != nil {
		f.Detail += fmt.Sprintf("; not caught up within %s", lagCatchUp)
		return
	}
	// Raft logs the install just after it applies the snapshot.
	for range 20 {
		if l.n.installed(l.victim) > l.installed {
			f.Detail += "; caught up by InstallSnapshot"
			return
		}
		sleep(ctx, 100*time.Millisecond)
	}
	f.Detail += "; caught up from the log, without a snapshot"
}

// barrier asks a live node other than the victim, in turn, for a
// consistent read, which the leader serves after a Raft barrier: one more
// entry in the log.
func (l *lagging) barrier(ctx context.Context) {
	var others []string
	for _, id := range l.n.c.Live() {
		if id != l.victim {
			others = append(others, id)
		}
	}
	if len(others) == 0 {
		sleep(ctx, 100*time.Millisecond)
		return
	}
	l.turn++
	id := others[l.turn%len(others)]
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var ms []api.Member
	if _, err := l.n.c.Client(id).Do(rctx, http.MethodGet, "/v1/members", url.Values{"consistent": {"true"}}, nil, &ms); err != nil {
		sleep(ctx, 100*time.Millisecond) // no leader for now: an election takes a moment
	}
}

// health asks node id for its Raft state.
func (n *nemesis) health(ctx context.Context, id string) (api.Health, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return n.c.Client(id).Health(ctx)
}

// lastIndex is node id's last log index, or 0 when it does not answer.
func (n *nemesis) lastIndex(ctx context.Context, id string) uint64 {
	h, err := n.health(ctx, id)
	if err != nil {
		return 0
	}
	return h.LastIndex
}

// logIndex is the highest last log index among the live nodes other than
// except: the leader's log, as far as the others know it.
func (n *nemesis) logIndex(ctx context.Context, except string) uint64 {
	var best uint64
	for _, id := range n.c.Live() {
		if id != except {
			best = max(best, n.lastIndex(ctx, id))
		}
	}
	return best
}

// installed counts the snapshots node id installed from a leader, from
// its log.
func (n *nemesis) installed(id string) int {
	s, err := procs.SnapshotsFromLog(n.c.LogPaths()[id])
	if err != nil {
		return 0
	}
	return s.Installed
}

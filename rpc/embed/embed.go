// Package embed is what a service embeds to follow the Baton agent on its
// node: the cluster's active protocol version (so the service knows which
// message version to speak, S1) and whether this node leads (so the service
// can make Baton's leader its primary and run its promote and demote hooks,
// S5). It is a small client of the local agent's API, usable in-process or
// from a separate program beside the agent.
//
// A Follower never changes anything in the cluster. It follows the agent's
// event stream as a wake-up signal and reads the agent's health after each
// wake-up, so it rides out agent restarts; every change is reported once.
package embed

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// Kind names what changed.
type Kind string

// The kinds of change.
const (
	ProtocolChanged Kind = "protocol"
	Promoted        Kind = "promoted" // this node became the leader
	Demoted         Kind = "demoted"  // this node stopped being the leader
)

// Change is one change the Follower saw.
type Change struct {
	Kind Kind
	// OldProtocol and NewProtocol are set for ProtocolChanged.
	OldProtocol, NewProtocol int
	At                       time.Time
}

// Options configure a Follower.
type Options struct {
	// Addr is the local agent's API address (HOST:PORT, or an http:// or
	// https:// URL).
	Addr string
	// TLS, when set, reaches an agent that serves HTTPS: the CA to trust
	// and the certificate to present, if any (api.ClientTLS); a bare
	// HOST:PORT then means HTTPS.
	TLS *tls.Config
	// Token is the agent's token; reads need none, so it may be empty.
	Token string
	// OnChange, when set, is called for every change, in order, from the
	// Follower's goroutine.
	OnChange func(Change)
	// Wait bounds one long poll; 30 s by default.
	Wait time.Duration
}

// Follower follows the local agent.
type Follower struct {
	opts    Options
	client  *api.Client
	changes chan Change
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.RWMutex
	node     string
	protocol int
	leader   bool
}

// Follow reads the agent's current state, then follows it until ctx ends or
// Close is called. It fails if the agent does not answer the first read.
func Follow(ctx context.Context, opts Options) (*Follower, error) {
	if opts.Addr == "" {
		return nil, errors.New("embed: the agent's address is required")
	}
	if opts.Wait <= 0 {
		opts.Wait = 30 * time.Second
	}
	f := &Follower{opts: opts, client: api.NewClientTLS(opts.Addr, opts.Token, opts.TLS), changes: make(chan Change, 64), done: make(chan struct{})}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	h, err := f.client.Health(rctx)
	cancel()
	if err != nil {
		return nil, err
	}
	f.node, f.protocol, f.leader = h.ID, h.ProtocolVersion, h.Leader == h.ID
	ctx, f.cancel = context.WithCancel(ctx)
	go f.run(ctx)
	return f, nil
}

// Node is the id of the agent followed.
func (f *Follower) Node() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.node
}

// Protocol is the cluster's active protocol version as last seen.
func (f *Follower) Protocol() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.protocol
}

// IsLeader reports whether this node led when last seen.
func (f *Follower) IsLeader() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.leader
}

// Changes delivers every change, in order. If nobody reads it, changes past
// its buffer are dropped from the channel (OnChange still sees them all).
func (f *Follower) Changes() <-chan Change { return f.changes }

// Close stops following and waits for the Follower's goroutine to end.
func (f *Follower) Close() {
	f.cancel()
	<-f.done
}

func (f *Follower) run(ctx context.Context) {
	defer close(f.done)
	var cursor uint64
	first := true
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		wait := f.opts.Wait
		if first {
			wait = 0 // learn the cursor without waiting
		}
		pctx, cancel := context.WithTimeout(ctx, wait+15*time.Second)
		evs, err := f.client.Events(pctx, cursor, wait)
		cancel()
		if err != nil {
			// The agent may be restarting: try again, gently.
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		// A restarted agent numbers its events from 1 again.
		cursor = evs.Next
		first = false
		f.refresh(ctx)
	}
}

// refresh reads the agent's health and reports what changed.
func (f *Follower) refresh(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	h, err := f.client.Health(rctx)
	cancel()
	if err != nil {
		return
	}
	now := time.Now()
	var out []Change
	f.mu.Lock()
	// The active protocol never falls (I6); a lower value is a restarted
	// agent still replaying its log, not a change.
	if h.ProtocolVersion > f.protocol {
		out = append(out, Change{Kind: ProtocolChanged, OldProtocol: f.protocol, NewProtocol: h.ProtocolVersion, At: now})
		f.protocol = h.ProtocolVersion
	}
	if leader := h.Leader == h.ID; leader != f.leader {
		k := Demoted
		if leader {
			k = Promoted
		}
		out = append(out, Change{Kind: k, At: now})
		f.leader = leader
	}
	f.mu.Unlock()
	for _, c := range out {
		if f.opts.OnChange != nil {
			f.opts.OnChange(c)
		}
		select {
		case f.changes <- c:
		default:
		}
	}
}

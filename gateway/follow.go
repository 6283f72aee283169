package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// DefaultPoll is how long one long-polled read waits for a change. It is
// also how often an active gateway tells the cluster it is alive, well
// within the registry's expiry (15 s by default).
const DefaultPoll = 5 * time.Second

// ErrNotRegistered is what Agent.GatewaySeen returns when the cluster does
// not know the gateway (it expired, or never registered): register again.
var ErrNotRegistered = errors.New("gateway not registered")

// Agent is what the gateway asks of one agent's API. NewAgent adapts an
// *api.Client; tests use fakes.
type Agent interface {
	// Addr is the agent's HTTP address, for logs.
	Addr() string
	// Members, Ring and ActiveUpgrade read the replicated state and return
	// the index they were served at; Members waits as w says. ActiveUpgrade
	// returns nil when no transaction is active.
	Members(ctx context.Context, w api.Wait) ([]api.Member, uint64, error)
	Ring(ctx context.Context) ([]string, uint64, error)
	ActiveUpgrade(ctx context.Context) (*api.Txn, uint64, error)
	// RegisterGateway, GatewaySeen and DeregisterGateway are the active
	// variant's registry calls.
	RegisterGateway(ctx context.Context, name string) error
	GatewaySeen(ctx context.Context, name string, index uint64) error
	DeregisterGateway(ctx context.Context, name string) error
}

// FollowOptions configure a Follower.
type FollowOptions struct {
	// Agents are the agents to follow, in order of preference; the
	// follower adds every member's API address it learns, and moves to the
	// next agent when one fails.
	Agents []Agent
	// Dial makes an Agent for an API address learned from the members.
	Dial func(httpAddr string) Agent
	// Name is the gateway's name in the cluster's registry. Empty, or with
	// Passive, the gateway does not register.
	Name string
	// Passive leaves every member with a service address in rotation,
	// whatever its step: the gateway then learns of a node's restart only
	// by failing over.
	Passive bool
	// Poll is the longest wait of one long-polled read (DefaultPoll).
	Poll   time.Duration
	Logger *slog.Logger
}

// Follower keeps a Proxy's view equal to the cluster's state, and, unless
// passive, reports to the cluster each state index the view reflects.
type Follower struct {
	opts   FollowOptions
	proxy  *Proxy
	log    *slog.Logger
	agents []Agent
	known  map[string]bool
	cur    int
	ready  chan struct{}
}

// NewFollower returns a follower that feeds p.
func NewFollower(p *Proxy, opts FollowOptions) *Follower {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Follower{opts: opts, proxy: p, log: log, known: map[string]bool{}, ready: make(chan struct{})}
	for _, a := range opts.Agents {
		f.addAgent(a)
	}
	return f
}

func (f *Follower) active() bool { return f.opts.Name != "" && !f.opts.Passive }

func (f *Follower) addAgent(a Agent) {
	if !f.known[a.Addr()] {
		f.known[a.Addr()] = true
		f.agents = append(f.agents, a)
	}
}

// Ready is closed once the proxy routes by a settled state read from the
// cluster, and, in the active variant, the gateway is registered and has
// reported that state: only then may it take requests.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Run follows the cluster until ctx ends; then an active gateway leaves
// the registry. It returns only then: agents that fail are retried, one
// after the other, and the proxy keeps routing by the last state it read.
func (f *Follower) Run(ctx context.Context) {
	var waitIndex uint64
	registered := false
	failures := 0
	for ctx.Err() == nil {
		agent := f.agents[f.cur]
		var err error
		if f.active() && !registered {
			// Register first, then read: the state read after the
			// registration is the first the cluster waits for.
			if err = f.call(ctx, 0, func(ctx context.Context) error { return agent.RegisterGateway(ctx, f.opts.Name) }); err == nil {
				registered = true
				f.log.Info("registered with the cluster", "name", f.opts.Name, "agent", agent.Addr())
			} else {
				err = fmt.Errorf("register gateway %q: %w", f.opts.Name, err)
			}
		}
		var st State
		var settled bool
		if err == nil {
			st, settled, err = f.read(ctx, agent, waitIndex)
		}
		if err == nil && settled && f.active() {
			err = f.call(ctx, 0, func(ctx context.Context) error { return agent.GatewaySeen(ctx, f.opts.Name, st.Index) })
			if errors.Is(err, ErrNotRegistered) {
				// Expired while it could not report (or forgotten):
				// register again, read the state afresh, then report.
				f.log.Warn("the cluster no longer knows this gateway; registering again", "name", f.opts.Name)
				registered, waitIndex = false, 0
				continue
			}
			if err != nil {
				err = fmt.Errorf("report seen index %d: %w", st.Index, err)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			f.log.Warn("cluster read failed; trying the next agent", "agent", agent.Addr(), "error", err.Error())
			f.cur = (f.cur + 1) % len(f.agents)
			sleep(ctx, backoff(failures))
			continue
		}
		failures = 0
		// Settled, the next read waits for a change past st.Index; not
		// settled, the state is past it already and the next read comes at
		// once.
		waitIndex = st.Index
		if settled {
			f.markReady()
		}
	}
	if f.active() && registered {
		dctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := f.agents[f.cur].DeregisterGateway(dctx, f.opts.Name); err != nil {
			f.log.Warn("leaving the gateway registry failed; the cluster expires the gateway", "error", err.Error())
		} else {
			f.log.Info("left the gateway registry", "name", f.opts.Name)
		}
	}
}

// callTimeout bounds one call to an agent beyond its long-poll wait: an
// agent that stopped answering (paused, partitioned) must not hold the
// follower, which moves on to the next agent.
const callTimeout = 5 * time.Second

// call runs fn with a deadline of wait plus callTimeout.
func (f *Follower) call(ctx context.Context, wait time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, wait+callTimeout)
	defer cancel()
	return fn(ctx)
}

// markReady closes Ready the first time: the view reflects a settled
// state and, in the active variant, the cluster knows the gateway has it.
func (f *Follower) markReady() {
	select {
	case <-f.ready:
	default:
		close(f.ready)
	}
}

// read waits for the state to move past waitIndex, then reads the members,
// the active transaction and the ring, and routes by them. The reads are
// settled when the first and the last were served at one index: each
// answer carries the index it was served at, read after its body, so the
// transaction read between them saw that same state, and the view
// reflects the whole state at that index. (The transaction's answer
// carries no index when there is none.)
func (f *Follower) read(ctx context.Context, agent Agent, waitIndex uint64) (State, bool, error) {
	var members []api.Member
	var ring []string
	var txn *api.Txn
	var mIdx, rIdx, tIdx uint64
	err := f.call(ctx, f.opts.Poll, func(ctx context.Context) (err error) {
		members, mIdx, err = agent.Members(ctx, api.Wait{Index: waitIndex, Wait: f.opts.Poll})
		return err
	})
	if err != nil {
		return State{}, false, fmt.Errorf("members: %w", err)
	}
	if err := f.call(ctx, 0, func(ctx context.Context) (err error) {
		txn, tIdx, err = agent.ActiveUpgrade(ctx)
		return err
	}); err != nil {
		return State{}, false, fmt.Errorf("active upgrade: %w", err)
	}
	if err := f.call(ctx, 0, func(ctx context.Context) (err error) {
		ring, rIdx, err = agent.Ring(ctx)
		return err
	}); err != nil {
		return State{}, false, fmt.Errorf("ring: %w", err)
	}
	if f.opts.Dial != nil {
		for _, m := range members {
			if m.HTTPAddr != "" && !f.known[m.HTTPAddr] {
				f.addAgent(f.opts.Dial(m.HTTPAddr))
			}
		}
	}
	st := StateOf(members, ring, txn, f.opts.Passive)
	st.Index = mIdx
	settled := mIdx == rIdx && (txn == nil || tIdx == mIdx)
	f.route(st)
	return st, settled, nil
}

// route makes st the proxy's view, logging what changed in the rotation.
func (f *Follower) route(st State) {
	v := NewView(st)
	old := f.proxy.View()
	f.proxy.SetView(v)
	if old == nil || rotationKey(old) != rotationKey(v) {
		f.log.Info("rotation", "index", v.Index, "in", strings.Join(ids(v.Rotation()), ","), "out", describeOut(v))
	}
}

// StateOf is the routing state of the cluster's members, ring and active
// transaction (nil when none): a node whose step runs is out of rotation
// until its step is done, that is until its health hook passed; so is one
// whose step failed, while its transaction is active. Passive routing
// leaves every node in.
func StateOf(members []api.Member, ring []string, txn *api.Txn, passive bool) State {
	st := State{Ring: ring, Out: map[string]string{}}
	for _, m := range members {
		st.Members = append(st.Members, Member{ID: m.ID, ServiceAddr: m.ServiceAddr})
	}
	if txn == nil || passive || !txn.State.Active() {
		return st
	}
	for _, s := range txn.Steps {
		switch s.State {
		case api.StepRunning:
			st.Out[s.Node] = fmt.Sprintf("step of %s running (attempt %d)", txn.ID, s.Attempt)
		case api.StepFailed:
			st.Out[s.Node] = fmt.Sprintf("step of %s failed", txn.ID)
		}
	}
	return st
}

func rotationKey(v *View) string {
	var b strings.Builder
	for _, n := range v.nodes {
		fmt.Fprintf(&b, "%s=%s/%t;", n.ID, n.Addr, n.InRotation)
	}
	return b.String()
}

func describeOut(v *View) string {
	var out []string
	for _, n := range v.nodes {
		if !n.InRotation {
			out = append(out, n.ID+" ("+n.Why+")")
		}
	}
	return strings.Join(out, ", ")
}

func ids(nodes []Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return slices.Clip(out)
}

func backoff(failures int) time.Duration {
	d := 100 * time.Millisecond << min(failures-1, 4)
	return min(d, time.Second)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

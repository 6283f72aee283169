package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// fakeCluster is the replicated state several fake agents serve.
type fakeCluster struct {
	mu      sync.Mutex
	changed chan struct{}
	index   uint64
	members []api.Member
	ring    []string
	txn     *api.Txn
	// registry
	registered map[string]bool
	seen       []uint64
	onSeen     func(index uint64)
	registers  int
	left       []string
	// registeredAt is the index of the last registration; reports below
	// it were read before it (lateReports counts them).
	registeredAt uint64
	lateReports  int
}

func newFakeCluster(ids ...string) *fakeCluster {
	c := &fakeCluster{changed: make(chan struct{}), index: 1, registered: map[string]bool{}}
	for i, id := range ids {
		c.members = append(c.members, api.Member{ID: id, HTTPAddr: "agent-" + id, ServiceAddr: "svc-" + id})
		_ = i
	}
	c.ring = ids
	return c
}

// change edits the state as one command at the next index.
func (c *fakeCluster) change(edit func()) uint64 {
	c.mu.Lock()
	edit()
	c.index++
	close(c.changed)
	c.changed = make(chan struct{})
	idx := c.index
	c.mu.Unlock()
	return idx
}

type fakeAgent struct {
	addr string
	c    *fakeCluster
	down func() bool
}

var errDown = errors.New("connection refused")

func (a *fakeAgent) Addr() string { return a.addr }

func (a *fakeAgent) check() error {
	if a.down != nil && a.down() {
		return errDown
	}
	return nil
}

func (a *fakeAgent) Members(ctx context.Context, w api.Wait) ([]api.Member, uint64, error) {
	if err := a.check(); err != nil {
		return nil, 0, err
	}
	deadline := time.After(w.Wait)
	for {
		a.c.mu.Lock()
		idx, ch, ms := a.c.index, a.c.changed, append([]api.Member(nil), a.c.members...)
		a.c.mu.Unlock()
		if idx > w.Index || w.Wait == 0 {
			return ms, idx, nil
		}
		select {
		case <-ch:
		case <-deadline:
			return ms, idx, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

func (a *fakeAgent) Ring(ctx context.Context) ([]string, uint64, error) {
	if err := a.check(); err != nil {
		return nil, 0, err
	}
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return append([]string(nil), a.c.ring...), a.c.index, nil
}

func (a *fakeAgent) ActiveUpgrade(ctx context.Context) (*api.Txn, uint64, error) {
	if err := a.check(); err != nil {
		return nil, 0, err
	}
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	if a.c.txn == nil {
		return nil, 0, nil
	}
	t := *a.c.txn
	t.Steps = append([]api.Step(nil), t.Steps...)
	return &t, a.c.index, nil
}

// RegisterGateway commits the registration, as the cluster does: at an
// index of its own.
func (a *fakeAgent) RegisterGateway(ctx context.Context, name string) error {
	if err := a.check(); err != nil {
		return err
	}
	a.c.change(func() {
		a.c.registered[name] = true
		a.c.registers++
		a.c.registeredAt = a.c.index + 1
	})
	return nil
}

func (a *fakeAgent) GatewaySeen(ctx context.Context, name string, index uint64) error {
	if err := a.check(); err != nil {
		return err
	}
	a.c.mu.Lock()
	if !a.c.registered[name] {
		a.c.mu.Unlock()
		return ErrNotRegistered
	}
	a.c.seen = append(a.c.seen, index)
	if index < a.c.registeredAt {
		a.c.lateReports++
	}
	on := a.c.onSeen
	a.c.mu.Unlock()
	if on != nil {
		on(index)
	}
	return nil
}

func (a *fakeAgent) DeregisterGateway(ctx context.Context, name string) error {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	delete(a.c.registered, name)
	a.c.left = append(a.c.left, name)
	return nil
}

func (c *fakeCluster) lastSeen() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeenLocked()
}

func (c *fakeCluster) lastSeenLocked() uint64 {
	if len(c.seen) == 0 {
		return 0
	}
	return c.seen[len(c.seen)-1]
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runFollower(t *testing.T, f *Follower) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func TestNodeLeavesRotationBeforeTheGatewayReportsItsStep(t *testing.T) {
	c := newFakeCluster("n1", "n2", "n3")
	p := NewProxy(ProxyOptions{})
	// Whenever the gateway reports an index, its view already reflects the
	// state at that index: n2 is out from the step's begin to its end.
	var mu sync.Mutex
	var violations []string
	var beginIdx, doneIdx uint64
	c.onSeen = func(index uint64) {
		mu.Lock()
		defer mu.Unlock()
		n2, _ := p.View().Node("n2")
		if beginIdx != 0 && index >= beginIdx && (doneIdx == 0 || index < doneIdx) && n2.InRotation {
			violations = append(violations, "n2 in rotation at a report of the step's index")
		}
	}
	f := NewFollower(p, FollowOptions{Agents: []Agent{&fakeAgent{addr: "a1", c: c}}, Name: "gw", Poll: 50 * time.Millisecond})
	stop := runFollower(t, f)
	defer stop()
	eventually(t, "the first report", func() bool { return c.lastSeen() >= 1 })

	// Each change and the index the check compares with are set under mu,
	// so that no report of the new index is checked against the old bounds
	// (onSeen runs without the fake cluster's lock).
	mu.Lock()
	idx := c.change(func() {
		c.txn = &api.Txn{ID: "t1", State: api.TxnRunning, Steps: []api.Step{{Node: "n2", State: api.StepRunning, Attempt: 1}}}
	})
	beginIdx = idx
	mu.Unlock()
	eventually(t, "the report of the step's begin", func() bool { return c.lastSeen() >= idx })
	n2, _ := p.View().Node("n2")
	require.False(t, n2.InRotation)
	require.Contains(t, n2.Why, "running")

	mu.Lock()
	idx = c.change(func() { c.txn.Steps[0].State = api.StepDone })
	doneIdx = idx
	mu.Unlock()
	eventually(t, "the report of the step's end", func() bool { return c.lastSeen() >= idx })
	n2, _ = p.View().Node("n2")
	require.True(t, n2.InRotation, "back after its step is done")

	// A member added mid-run is routed to once it has a service address.
	idx = c.change(func() {
		c.members = append(c.members, api.Member{ID: "n4", HTTPAddr: "agent-n4", ServiceAddr: "svc-n4"})
		c.ring = append(c.ring, "n4")
	})
	eventually(t, "n4 in rotation", func() bool { n, ok := p.View().Node("n4"); return ok && n.InRotation })
	require.Equal(t, []string{"n1", "n2", "n3", "n4"}, ids(p.View().Rotation()))
	mu.Lock()
	require.Empty(t, violations)
	mu.Unlock()

	stop()
	require.Equal(t, []string{"gw"}, c.left, "a clean stop leaves the registry")
}

func TestFollowerMovesToAnotherAgentAndRegistersAgain(t *testing.T) {
	c := newFakeCluster("n1", "n2")
	var mu sync.Mutex
	firstDown := false
	first := &fakeAgent{addr: "a1", c: c, down: func() bool { mu.Lock(); defer mu.Unlock(); return firstDown }}
	second := &fakeAgent{addr: "agent-n2", c: c}
	p := NewProxy(ProxyOptions{})
	f := NewFollower(p, FollowOptions{
		Agents: []Agent{first},
		Dial: func(addr string) Agent {
			if addr == "agent-n2" {
				return second
			}
			return &fakeAgent{addr: addr, c: c, down: func() bool { return true }}
		},
		Name: "gw", Poll: 50 * time.Millisecond,
	})
	stop := runFollower(t, f)
	defer stop()
	eventually(t, "the first report", func() bool { return c.lastSeen() >= 1 })

	mu.Lock()
	firstDown = true
	mu.Unlock()
	// The cluster expires the gateway meanwhile; a step begins.
	c.mu.Lock()
	delete(c.registered, "gw")
	c.mu.Unlock()
	idx := c.change(func() {
		c.txn = &api.Txn{ID: "t1", State: api.TxnRunning, Steps: []api.Step{{Node: "n1", State: api.StepRunning, Attempt: 1}}}
	})
	eventually(t, "a report through another agent", func() bool { return c.lastSeen() >= idx })
	n1, _ := p.View().Node("n1")
	require.False(t, n1.InRotation)
	c.mu.Lock()
	require.GreaterOrEqual(t, c.registers, 2, "registered again after the cluster forgot it")
	c.mu.Unlock()
}

func TestPassiveFollowerNeitherRegistersNorDrains(t *testing.T) {
	c := newFakeCluster("n1", "n2")
	c.txn = &api.Txn{ID: "t1", State: api.TxnRunning, Steps: []api.Step{{Node: "n1", State: api.StepRunning, Attempt: 1}}}
	p := NewProxy(ProxyOptions{})
	f := NewFollower(p, FollowOptions{Agents: []Agent{&fakeAgent{addr: "a1", c: c}}, Name: "gw", Passive: true, Poll: 20 * time.Millisecond})
	stop := runFollower(t, f)
	eventually(t, "a view", func() bool { return p.View() != nil })
	time.Sleep(100 * time.Millisecond)
	stop()
	require.Equal(t, []string{"n1", "n2"}, ids(p.View().Rotation()))
	require.Zero(t, c.registers)
	require.Empty(t, c.left)
}

func TestStateOf(t *testing.T) {
	ms := []api.Member{{ID: "n1", ServiceAddr: "h:1"}, {ID: "n2", ServiceAddr: "h:2"}, {ID: "n3", ServiceAddr: "h:3"}}
	txn := &api.Txn{ID: "t1", State: api.TxnFailed, Steps: []api.Step{
		{Node: "n1", State: api.StepDone}, {Node: "n2", State: api.StepFailed}, {Node: "n3", State: api.StepRunning, Attempt: 2},
	}}
	st := StateOf(ms, []string{"n3", "n1", "n2"}, txn, false)
	require.Len(t, st.Out, 2)
	require.Contains(t, st.Out["n2"], "failed")
	require.Contains(t, st.Out["n3"], "attempt 2")
	require.Empty(t, StateOf(ms, nil, txn, true).Out, "passive: nobody out")
	done := *txn
	done.State = api.TxnAborted
	require.Empty(t, StateOf(ms, nil, &done, false).Out, "a finished transaction takes nobody out")
}

func TestFollowerReportsOnlyStatesReadAfterItRegistered(t *testing.T) {
	c := newFakeCluster("n1", "n2")
	p := NewProxy(ProxyOptions{})
	f := NewFollower(p, FollowOptions{Agents: []Agent{&fakeAgent{addr: "a1", c: c}}, Name: "gw", Poll: 30 * time.Millisecond})
	stop := runFollower(t, f)
	defer stop()
	select {
	case <-f.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("never ready")
	}
	c.mu.Lock()
	require.NotEmpty(t, c.seen, "ready only once the cluster has a report")
	c.mu.Unlock()
	for range 3 {
		// The cluster forgets the gateway (it expired); the gateway must
		// register, read afresh, and only then report.
		c.mu.Lock()
		delete(c.registered, "gw")
		c.mu.Unlock()
		idx := c.change(func() {})
		eventually(t, "a report after registering again", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.registered["gw"] && c.lastSeenLocked() > idx
		})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Zero(t, c.lateReports, "a report of a state read before the gateway registered")
}

// hangingAgent answers nothing until its caller gives up, like a paused
// agent.
type hangingAgent struct{ fakeAgent }

func (a *hangingAgent) Members(ctx context.Context, w api.Wait) ([]api.Member, uint64, error) {
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

func TestFollowerLeavesAnAgentThatHangs(t *testing.T) {
	c := newFakeCluster("n1", "n2")
	hung := &hangingAgent{fakeAgent{addr: "a1", c: c}}
	p := NewProxy(ProxyOptions{})
	f := NewFollower(p, FollowOptions{Agents: []Agent{hung, &fakeAgent{addr: "a2", c: c}}, Name: "gw", Poll: 50 * time.Millisecond})
	stop := runFollower(t, f)
	defer stop()
	select {
	case <-f.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the follower stayed with the agent that does not answer")
	}
	require.Equal(t, []string{"n1", "n2"}, ids(p.View().Rotation()))
}

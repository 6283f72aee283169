package failover

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// fakeAgent is a follower whose idea of the leader the test sets, over a
// real Raft instance that never elects anyone (it has no configuration).
type fakeAgent struct {
	mu       sync.Mutex
	leader   string
	addr     string
	r        *raft.Raft
	listener net.Listener
}

func (a *fakeAgent) ID() string       { return "n2" }
func (a *fakeAgent) Raft() *raft.Raft { return a.r }
func (a *fakeAgent) Leader() (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leader, a.addr
}
func (a *fakeAgent) setLeader(id, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leader, a.addr = id, addr
}

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, io.EOF }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

func newFollower(t *testing.T) *fakeAgent {
	t.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = "n2"
	conf.Logger = hclog.NewNullLogger()
	_, trans := raft.NewInmemTransport("n2")
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(conf, nopFSM{}, store, store, raft.NewInmemSnapshotStore(), trans)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Shutdown().Error() })
	ln := leaderAPI(t)
	return &fakeAgent{leader: "n1", addr: ln.Addr().String(), r: r, listener: ln}
}

// leaderAPI stands for a leader's API: it accepts connections and keeps
// them open until it "dies" (the listener closes, and every connection
// with it).
func leaderAPI(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				mu.Lock()
				for _, c := range conns {
					c.Close()
				}
				mu.Unlock()
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln
}

func heartbeat(a *fakeAgent) time.Duration { return a.r.ReloadableConfig().HeartbeatTimeout }

func TestDeadLeaderLowersTheTimeoutsUntilALeaderIsKnown(t *testing.T) {
	a := newFollower(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Watch(ctx, a, LeaseTimeout(1), hclog.NewNullLogger()) }()

	time.Sleep(200 * time.Millisecond)
	require.Equal(t, time.Second, heartbeat(a), "a live leader changes nothing")

	a.listener.Close() // the leader's process dies: its port refuses
	require.Eventually(t, func() bool { return heartbeat(a) == 500*time.Millisecond }, 5*time.Second, 10*time.Millisecond,
		"lowered to the leader lease timeout")
	require.Equal(t, 500*time.Millisecond, a.r.ReloadableConfig().ElectionTimeout)

	a.setLeader("n3", leaderAPI(t).Addr().String()) // a new leader is known
	require.Eventually(t, func() bool { return heartbeat(a) == time.Second }, 5*time.Second, 10*time.Millisecond, "restored")

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

func TestTimeoutsAreRestoredWhenTheSameLeaderAnswersAgain(t *testing.T) {
	a := newFollower(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Watch(ctx, a, LeaseTimeout(1), hclog.NewNullLogger()) }()
	defer func() { cancel(); <-done }()
	a.listener.Close()
	require.Eventually(t, func() bool { return heartbeat(a) == 500*time.Millisecond }, 5*time.Second, 10*time.Millisecond)
	a.setLeader("n1", leaderAPI(t).Addr().String()) // n1 restarted and won again
	require.Eventually(t, func() bool { return heartbeat(a) == time.Second }, 5*time.Second, 10*time.Millisecond)
}

func TestTimeoutsAreRestoredWhenTheWatchStops(t *testing.T) {
	a := newFollower(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Watch(ctx, a, LeaseTimeout(1), hclog.NewNullLogger()) }()
	a.listener.Close()
	require.Eventually(t, func() bool { return heartbeat(a) == 500*time.Millisecond }, 5*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	require.Equal(t, time.Second, heartbeat(a))
}

func TestLeaseTimeoutScalesWithTheMultiplier(t *testing.T) {
	require.Equal(t, 500*time.Millisecond, LeaseTimeout(1))
	require.Equal(t, 100*time.Millisecond, LeaseTimeout(0.2))
}

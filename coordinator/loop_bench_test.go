package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// largeCluster is a fake cluster whose catalogue holds n members (n1 the
// only voter), loaded from a snapshot rather than joined one by one.
func largeCluster(b *testing.B, n int) *fakeCluster {
	b.Helper()
	s := fsm.NewState(1)
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		s.Members[id] = fsm.Member{ID: id, RaftAddr: fmt.Sprintf("127.0.%d.%d:7001", i/250, i%250), HTTPAddr: id + ":80",
			Version: "1.0.0", Voter: i == 1, Protocol: fsm.ProtocolRange{Min: 1, Max: 1}}
	}
	snap, err := s.MarshalSnapshot()
	if err != nil {
		b.Fatal(err)
	}
	c := &fakeCluster{id: "n1", f: fsm.New(1), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if err := c.f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkTurn is one turn of the coordinator's loop over a transaction
// of 10,000 steps with a batch of 100 running, every one recently checked:
// the work done after each commit while a batch runs, when there is
// nothing to do.
func BenchmarkTurn(b *testing.B) {
	c := largeCluster(b, 10000)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	ctx := context.Background()
	if _, err := co.Start(ctx, api.StartRequest{TargetVersion: "2.0.0", MaxParallel: "100", AllowLeaderUpgrade: true}); err != nil {
		b.Fatal(err)
	}
	tn := newTenure()
	co.turn(ctx, tn) // begins the first batch
	b.ResetTimer()
	for range b.N {
		co.turn(ctx, tn)
	}
}

// BenchmarkPlan computes the plan of an upgrade of 10,000 members.
func BenchmarkPlan(b *testing.B) {
	c := largeCluster(b, 10000)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	b.ResetTimer()
	for range b.N {
		if _, err := co.Plan(context.Background(), api.StartRequest{TargetVersion: "2.0.0", MaxParallel: "100", AllowLeaderUpgrade: true}); err != nil {
			b.Fatal(err)
		}
	}
}

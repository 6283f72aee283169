package coordinator

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// newGatewayHarness starts a secondaries-first transaction (n2 first, no
// handoff) on three voters at protocol 3, with the given gateway wait and
// gateways registered.
func newGatewayHarness(t *testing.T, wait time.Duration, gateways ...string) *harness {
	t.Helper()
	h := &harness{t: t, c: newFakeClusterAt(t, 3, "n1", membersAt(3, 3)...), n: newFakeNodes(), ctx: context.Background(),
		logs: &logCapture{}, m: newFakeMetrics()}
	h.co = New(h.c, h.n, Options{Now: h.c.clock, Logger: h.logs.logger(), Metrics: h.m, GatewayWait: wait})
	h.tn = newTenure()
	for _, g := range gateways {
		_, err := h.co.RegisterGateway(h.ctx, g)
		require.NoError(t, err)
	}
	txn, err := h.co.Start(h.ctx, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	require.NoError(t, err)
	h.txnID = txn.ID
	return h
}

func TestNoGatewaysNoWait(t *testing.T) {
	h := newGatewayHarness(t, time.Hour)
	done := make(chan struct{})
	go func() { h.drive(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("a turn with no gateway registered waited")
	}
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes())
	require.Empty(t, h.logs.records(t, LogGatewaysLate))
}

// The step is delivered only once the slow gateway has reported seeing its
// begin; meanwhile the transaction's reason names the gateway behind, and
// only that one.
func TestStepWaitsForTheSlowGateway(t *testing.T) {
	h := newGatewayHarness(t, time.Hour, "gw-fast", "gw-slow")
	_, err := h.co.GatewaySeen(h.ctx, "gw-fast", 1<<40)
	require.NoError(t, err)

	var (
		wg          sync.WaitGroup
		sentAtSeen  []string
		reasonSeen  string
		reportIndex uint64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			st := h.c.FSM().Read()
			if tx := st.Txn(h.txnID); tx != nil && tx.Step("n2").State == fsm.StepRunning && tx.Reason != "" {
				reasonSeen, sentAtSeen, reportIndex = tx.Reason, h.n.sentNodes(), st.Index
				_, _ = h.co.GatewaySeen(h.ctx, "gw-slow", reportIndex)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	h.drive()
	wg.Wait()
	require.NotEmpty(t, reasonSeen, "the slow gateway never saw a reason to report")
	require.Empty(t, sentAtSeen, "nothing is delivered before the slow gateway has seen the begin")
	require.Regexp(t, `^for gateway\(s\) gw-slow to take n2 out of rotation \(step.begin at index \d+\)$`, reasonSeen)
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes(), "delivered once every gateway has seen it")
	require.Empty(t, h.txn().Reason, "the reason is cleared once the wait is over")
	require.Empty(t, h.logs.records(t, LogGatewaysLate))
}

// A gateway that never reports holds each step for GatewayWait at most,
// and is named in a warning.
func TestDeadGatewayIsWaitedForAtMostTheLimit(t *testing.T) {
	h := newGatewayHarness(t, 100*time.Millisecond, "gw-dead")
	done := make(chan struct{})
	go func() { h.drive(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("a dead gateway stalled the step past its wait")
	}
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes())
	late := h.logs.records(t, LogGatewaysLate)
	require.Len(t, late, 1)
	require.Equal(t, float32(1), h.m.counter("coordinator.gateways.late"))
	require.Empty(t, h.txn().Reason)

	h.complete("n2")
	h.drive()
	require.Equal(t, []string{"n2#1", "n3#1"}, h.n.sentNodes(), "each step waits at most the limit, and goes on")
	require.Len(t, h.logs.records(t, LogGatewaysLate), 2)
}

// A gateway that leaves while a step waits for it ends the wait.
func TestGatewayLeavingEndsTheWait(t *testing.T) {
	h := newGatewayHarness(t, time.Hour, "gw1")
	go func() {
		for range 12000 {
			if tx := h.c.FSM().Read().Txn(h.txnID); tx != nil && strings.Contains(tx.Reason, "gw1") {
				_ = h.co.DeregisterGateway(h.ctx, "gw1")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	h.drive()
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes())
	require.Empty(t, h.logs.records(t, LogGatewaysLate))
}

func TestGatewayReportsAreSoftState(t *testing.T) {
	c := newFakeClusterAt(t, 3, "n1", membersAt(3, 3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	ctx := context.Background()
	_, err := co.GatewaySeen(ctx, "gw1", 5)
	require.ErrorIs(t, err, fsm.ErrNotFound, "an unknown gateway registers first")
	require.ErrorContains(t, err, "register it again")

	gw, err := co.RegisterGateway(ctx, "gw1")
	require.NoError(t, err)
	require.Equal(t, c.clock(), gw.RegisteredAt)
	index := c.FSM().Read().Index
	_, err = co.RegisterGateway(ctx, "gw1")
	require.NoError(t, err)
	require.Equal(t, index, c.FSM().Read().Index, "registering again commits nothing")

	c.advance(time.Second)
	_, err = co.GatewaySeen(ctx, "gw1", 7)
	require.NoError(t, err)
	require.Equal(t, index, c.FSM().Read().Index, "a report is never a log entry")
	require.Equal(t, []api.Gateway{{Name: "gw1", RegisteredAt: gw.RegisteredAt, SeenIndex: 7, LastSeen: c.clock()}}, co.Gateways())

	co.gateways.reset(c.clock()) // a change of leader
	require.Equal(t, []api.Gateway{{Name: "gw1", RegisteredAt: gw.RegisteredAt}}, co.Gateways())
}

func TestGatewayExpiry(t *testing.T) {
	logs := &logCapture{}
	c := newFakeClusterAt(t, 3, "n1", membersAt(3, 3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock, GatewayTTL: 15 * time.Second, Logger: logs.logger()})
	ctx := context.Background()
	co.gateways.reset(c.clock())
	for _, g := range []string{"gw1", "gw2"} {
		_, err := co.RegisterGateway(ctx, g)
		require.NoError(t, err)
	}
	registered := func() []string {
		var out []string
		for _, g := range co.Gateways() {
			out = append(out, g.Name)
		}
		return out
	}

	c.advance(10 * time.Second)
	_, err := co.GatewaySeen(ctx, "gw1", 1)
	require.NoError(t, err)
	co.expireGateways(ctx)
	require.Equal(t, []string{"gw1", "gw2"}, registered(), "within the TTL of the registration")

	c.advance(6 * time.Second)
	co.expireGateways(ctx)
	require.Equal(t, []string{"gw1"}, registered(), "gw2 was not heard from for 16 s")
	require.Len(t, logs.records(t, LogGatewayExpired), 1)

	// A new leader gives every gateway a full TTL, whatever the old one
	// knew.
	c.advance(time.Hour)
	co.gateways.reset(c.clock())
	c.advance(14 * time.Second)
	co.expireGateways(ctx)
	require.Equal(t, []string{"gw1"}, registered())
	c.advance(2 * time.Second)
	co.expireGateways(ctx)
	require.Empty(t, registered())
	require.Len(t, logs.records(t, LogGatewayExpired), 2)
}

// A step an earlier leader began, and that its node never received, is
// sent again only after the gateways have had their wait: the reports the
// earlier leader had are gone with it.
func TestStepBegunByAnEarlierLeaderIsAnnouncedAgain(t *testing.T) {
	h := newGatewayHarness(t, 50*time.Millisecond, "gw-dead")
	_, err := h.c.Apply(h.ctx, fsm.CmdStepBegin, fsm.StepBegin{TxnID: h.txnID, Node: "n2", Attempt: 1})
	require.NoError(t, err)

	h.drive() // a new tenure: the node is asked, knows nothing, gets it again
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes())
	late := h.logs.records(t, LogGatewaysLate)
	require.Len(t, late, 1, "the resend waited for the gateway first")
	h.n.mu.Lock()
	h.n.known = map[string]api.StepStatus{} // the node lost it again
	h.n.mu.Unlock()
	h.tn.nextCheck = map[attemptKey]time.Time{}
	h.drive()
	require.Equal(t, []string{"n2#1", "n2#1"}, h.n.sentNodes())
	require.Len(t, h.logs.records(t, LogGatewaysLate), 1, "announced once per tenure")

	// Within one tenure, a step it announced itself is sent again at once.
	h2 := newGatewayHarness(t, 50*time.Millisecond, "gw-dead")
	h2.drive()
	require.Equal(t, []string{"n2#1"}, h2.n.sentNodes())
	h2.n.mu.Lock()
	h2.n.known = map[string]api.StepStatus{} // the node lost it
	h2.n.mu.Unlock()
	h2.tn.nextCheck = map[attemptKey]time.Time{}
	h2.logs.reset()
	h2.drive()
	require.Equal(t, []string{"n2#1", "n2#1"}, h2.n.sentNodes())
	require.Empty(t, h2.logs.records(t, LogGatewaysLate), "no second wait for an attempt this tenure announced")
}

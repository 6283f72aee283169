package coordinator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// The gateway registry's soft state and the drain announcement (S2's
// active variant; docs/ring.md). Registrations are replicated
// (gateway.register, gateway.leave, gateway.expire); what each gateway has
// seen is not: a gateway reports it to the leader, which keeps it in
// memory, here, and forgets it when its leadership ends.

// Defaults of the gateway options.
const (
	// DefaultGatewayTTL is how long the leader waits for a report before it
	// expires a gateway.
	DefaultGatewayTTL = 15 * time.Second
	// DefaultGatewayWait bounds the wait, after a step.begin, for every
	// registered gateway to have seen it.
	DefaultGatewayWait = 5 * time.Second
)

// gatewayReport is the leader's memory of a gateway's last report.
type gatewayReport struct {
	index uint64
	at    time.Time
}

// gatewayTable is the leader's memory of the gateways' reports. Every
// method is safe for concurrent use.
type gatewayTable struct {
	mu      sync.Mutex
	reports map[string]gatewayReport
	// since is when this agent's current leadership began (the start of
	// WatchGateways), zero while it does not lead: a gateway is given a
	// full TTL from it.
	since time.Time
	// changed is closed and replaced at every report, so that waits wake.
	changed chan struct{}
}

func newGatewayTable() *gatewayTable {
	return &gatewayTable{reports: map[string]gatewayReport{}, changed: make(chan struct{})}
}

// reset forgets every report; since is the start of a leadership, or zero
// at its end.
func (g *gatewayTable) reset(since time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reports, g.since = map[string]gatewayReport{}, since
	close(g.changed)
	g.changed = make(chan struct{})
}

// report keeps a gateway's report. The latest report is kept, not the
// highest index: a gateway that restarted has acted only on what it has
// read since.
func (g *gatewayTable) report(name string, index uint64, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reports[name] = gatewayReport{index: index, at: at}
	close(g.changed)
	g.changed = make(chan struct{})
}

// get returns a gateway's last report, and the channel closed at the next.
func (g *gatewayTable) get(name string) (gatewayReport, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reports[name], g.changed
}

// lastHeard is the latest of the gateway's last report, its registration
// and the start of this leadership: what its TTL runs from.
func (g *gatewayTable) lastHeard(gw fsm.Gateway) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	last := g.since
	if r := g.reports[gw.Name]; r.at.After(last) {
		last = r.at
	}
	if gw.RegisteredAt.After(last) {
		last = gw.RegisteredAt
	}
	return last
}

// forget drops a gateway's report (it left or expired).
func (g *gatewayTable) forget(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.reports, name)
}

// behind returns the names, sorted, of the gateways whose last report is
// below index, and the channel closed at the next report.
func (g *gatewayTable) behind(names []string, index uint64) ([]string, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, n := range names {
		if g.reports[n].index < index {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, g.changed
}

// gatewayOut is a registered gateway with the leader's memory of it.
func (co *Coordinator) gatewayOut(gw fsm.Gateway) api.Gateway {
	r, _ := co.gateways.get(gw.Name)
	return api.Gateway{Name: gw.Name, RegisteredAt: gw.RegisteredAt, SeenIndex: r.index, LastSeen: r.at}
}

// registered returns the registered gateways from this agent's state.
func (co *Coordinator) registered() []fsm.Gateway {
	var out []fsm.Gateway
	co.c.FSM().View(func(s *fsm.State) { out = s.GatewayList() })
	return out
}

// RegisterGateway commits a gateway's registration (leader only; protocol
// 3). A name already registered is answered as it stands, without a
// commit.
func (co *Coordinator) RegisterGateway(ctx context.Context, name string) (api.Gateway, error) {
	if gw, ok := co.gateway(name); ok {
		return co.gatewayOut(gw), nil
	}
	if _, err := co.c.Apply(ctx, fsm.CmdGatewayRegister, fsm.GatewayRegister{Name: name}); err != nil {
		return api.Gateway{}, err
	}
	co.log.Info("gateway registered", "gateway", name)
	gw, _ := co.gateway(name)
	return co.gatewayOut(gw), nil
}

// gateway returns the registration of name from this agent's state.
func (co *Coordinator) gateway(name string) (fsm.Gateway, bool) {
	var (
		gw fsm.Gateway
		ok bool
	)
	co.c.FSM().View(func(s *fsm.State) { gw, ok = s.Gateways[name] })
	return gw, ok
}

// GatewaySeen keeps a gateway's report in memory (leader only): it has
// seen the state up to index and acted on it. A gateway that is not
// registered is told so (fsm.ErrNotFound), and registers again.
func (co *Coordinator) GatewaySeen(ctx context.Context, name string, index uint64) (api.Gateway, error) {
	gw, ok := co.gateway(name)
	if !ok {
		return api.Gateway{}, fmt.Errorf("%w: gateway %q is not registered (it left, or was expired after %s without a report): register it again",
			fsm.ErrNotFound, name, co.opts.GatewayTTL)
	}
	co.gateways.report(name, index, co.opts.Now())
	return co.gatewayOut(gw), nil
}

// DeregisterGateway commits a gateway's leave (leader only).
func (co *Coordinator) DeregisterGateway(ctx context.Context, name string) error {
	if _, err := co.c.Apply(ctx, fsm.CmdGatewayLeave, fsm.GatewayLeave{Name: name}); err != nil {
		return err
	}
	co.gateways.forget(name)
	co.log.Info("gateway left", "gateway", name)
	return nil
}

// Gateways lists the registered gateways with this agent's memory of their
// reports: the leader's, when it leads.
func (co *Coordinator) Gateways() []api.Gateway {
	out := []api.Gateway{}
	for _, gw := range co.registered() {
		out = append(out, co.gatewayOut(gw))
	}
	return out
}

// WatchGateways is a leader duty: it expires every gateway not heard from
// for GatewayTTL (no report since its registration, or since this
// leadership began: a new leader gives every gateway a full TTL), by
// committing gateway.expire. It forgets the reports when leadership ends.
func (co *Coordinator) WatchGateways(ctx context.Context) {
	co.gateways.reset(co.opts.Now())
	defer co.gateways.reset(time.Time{})
	tick := time.NewTicker(max(co.opts.GatewayTTL/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		co.expireGateways(ctx)
	}
}

// expireGateways commits gateway.expire for every gateway past its TTL.
func (co *Coordinator) expireGateways(ctx context.Context) {
	now := co.opts.Now()
	for _, gw := range co.registered() {
		last := co.gateways.lastHeard(gw)
		if now.Sub(last) <= co.opts.GatewayTTL {
			continue
		}
		_, err := co.c.Apply(ctx, fsm.CmdGatewayExpire, fsm.GatewayExpire{Name: gw.Name, TTL: fsm.Duration(co.opts.GatewayTTL)})
		if err != nil {
			co.log.Debug("gateway expiry not committed", "gateway", gw.Name, "error", err)
			continue
		}
		co.gateways.forget(gw.Name)
		co.log.Warn(LogGatewayExpired, "gateway", gw.Name, "ttl", co.opts.GatewayTTL, "last_heard", last.UTC().Format(time.RFC3339Nano))
	}
}

// Lines the coordinator logs about gateways; tests and operators search
// the logs for them.
const (
	LogGatewayExpired = "gateway expired: no report within its TTL"
	LogGatewaysLate   = "gateways did not confirm the drain announcement within --gateway-wait; going on"
)

// announce waits until every registered gateway has reported seeing the
// state at index or later (the committed step.begin of nodes: they leave
// rotation), for at most GatewayWait, and reports whether they all did.
// With none registered it returns at once. While it waits, a running
// transaction's reason names the gateways behind; on time-out it logs a
// warning naming them and the caller goes on: a dead gateway cannot stall
// an upgrade. tn may be nil: nothing is then written on the transaction.
func (co *Coordinator) announce(ctx context.Context, tn *tenure, t *fsm.Txn, index uint64, nodes []string) bool {
	deadline := time.NewTimer(co.opts.GatewayWait)
	defer deadline.Stop()
	noted := false
	defer func() {
		if noted {
			co.note(ctx, tn, t, "")
		}
	}()
	for {
		changed := co.c.FSM().Changed() // a gateway may leave or expire
		var names []string
		for _, gw := range co.registered() {
			names = append(names, gw.Name)
		}
		behind, reported := co.gateways.behind(names, index)
		if len(behind) == 0 {
			return true
		}
		if !noted && tn != nil && t.State == fsm.TxnRunning {
			co.note(ctx, tn, t, gatewayWaitReason(behind, nodes, index))
			noted = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			co.log.Warn(LogGatewaysLate, "txn", t.ID, "nodes", nodes, "index", index, "gateways", behind, "waited", co.opts.GatewayWait)
			co.opts.Metrics.IncrCounter([]string{"coordinator", "gateways", "late"}, 1)
			return false
		case <-reported:
		case <-changed:
		}
	}
}

// gatewayWaitReason is the transaction's reason while it waits for
// gateways.
func gatewayWaitReason(behind, nodes []string, index uint64) string {
	return fmt.Sprintf("for gateway(s) %s to take %s out of rotation (step.begin at index %d)",
		strings.Join(behind, ", "), strings.Join(nodes, ", "), index)
}

// announceAgain waits, before a step begun under an earlier leader is sent
// again, for the gateways to have seen the state as this leader has it
// (which holds its step.begin): the reports the earlier leader had are
// lost with it.
func (co *Coordinator) announceAgain(ctx context.Context, t *fsm.Txn, s fsm.Step) {
	var index uint64
	co.c.FSM().View(func(st *fsm.State) { index = st.Index })
	co.announce(ctx, nil, t, index, []string{s.Node})
}

package nemesis

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/jepsen/harness"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Options configure a nemesis run.
type Options struct {
	Kinds []Kind
	Seed  int64
	// ElectionTimeout is the agents' election timeout; pauses last longer.
	ElectionTimeout time.Duration
	// HookTimeout is the agents' hook timeout; some hangs outlast it.
	HookTimeout time.Duration
	// RecoveryLimit bounds the wait for a consistent read after a heal.
	RecoveryLimit time.Duration
	// PowerLossMax is how many agents one power loss may take at once;
	// zero means a minority.
	PowerLossMax int
	Recorder     *history.Recorder
	Logf         func(format string, args ...any)
}

// Run injects faults until ctx ends, then heals everything it broke. The
// process and network faults take turns in one lane (each healed before the
// next), the hook faults in another, so the two kinds overlap. It returns
// when the last fault has healed.
func Run(ctx context.Context, c *harness.Cluster, o Options) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	var lane, hooks []Kind
	for _, k := range o.Kinds {
		if k.IsHook() {
			hooks = append(hooks, k)
		} else {
			lane = append(lane, k)
		}
	}
	_ = c.Hooks.Set("fault-seed", strconv.FormatInt(o.Seed, 10))
	var wg sync.WaitGroup
	if len(lane) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := &nemesis{c: c, o: o, rng: rand.New(rand.NewSource(o.Seed))}
			n.processLane(ctx, lane)
		}()
	}
	if len(hooks) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := &nemesis{c: c, o: o, rng: rand.New(rand.NewSource(o.Seed + 1))}
			n.hookLane(ctx, hooks)
		}()
	}
	wg.Wait()
}

type nemesis struct {
	c   *harness.Cluster
	o   Options
	rng *rand.Rand
}

// between draws a duration in [lo, hi).
func (n *nemesis) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rng.Int63n(int64(hi-lo)))
}

// processLane injects one process or network fault at a time. When lag is
// among them it comes first, so that every run makes a node catch up by
// snapshot at least once; after that every fault is drawn at random.
func (n *nemesis) processLane(ctx context.Context, kinds []Kind) {
	lagFirst := slices.Contains(kinds, Lag)
	for ctx.Err() == nil {
		quiet := n.between(2*time.Second, 6*time.Second)
		kind := kinds[n.rng.Intn(len(kinds))]
		if lagFirst {
			kind, lagFirst = Lag, false
		}
		hold := n.between(2*time.Second, 8*time.Second)
		if kind == Pause {
			hold = n.between(3*n.o.ElectionTimeout, 3*n.o.ElectionTimeout+5*time.Second)
		}
		if !sleep(ctx, quiet) {
			return
		}
		n.inject(ctx, kind, hold)
	}
}

// inject runs one fault for hold, heals it, and records it. The fault is
// healed even when ctx ends while it holds.
func (n *nemesis) inject(ctx context.Context, kind Kind, hold time.Duration) {
	f := history.Fault{Kind: string(kind), Start: time.Now()}
	var heal func() error
	var err error
	var lag *lagging
	switch kind {
	case KillLeader, KillRandom, KillStep:
		heal, err = n.kill(ctx, kind, &f)
	case Pause:
		heal, err = n.pause(ctx, &f)
	case PartitionMajority, PartitionLeader, PartitionBridge:
		heal, err = n.partition(ctx, kind, &f)
	case PowerLoss:
		heal, err = n.powerLoss(&f) // disk.go
	case DiskFull, FsyncFail:
		heal, err = n.diskFault(ctx, kind, &f)
	case Lag:
		if lag, err = n.lag(ctx, &f); lag != nil {
			heal = lag.heal
		}
	}
	if err != nil || heal == nil {
		n.o.Logf("nemesis %s not injected: %v", kind, err)
		return
	}
	if lag != nil {
		n.o.Logf("nemesis %s on %v until the others' log passes index %d: %s", kind, f.Nodes, lag.target, f.Detail)
		available := n.probe(lagLimit + n.o.RecoveryLimit)
		lag.outrun(ctx, &f)
		n.heal(kind, heal, &f, available)
		lag.caughtUp(&f)
		n.o.Logf("nemesis %s: %s", kind, f.Detail)
	} else {
		n.o.Logf("nemesis %s on %v for %s: %s", kind, f.Nodes, hold.Round(time.Millisecond), f.Detail)
		available := n.probe(hold + n.o.RecoveryLimit)
		sleep(ctx, hold)
		n.heal(kind, heal, &f, available)
	}
	n.o.Recorder.AddFault(f)
}

// heal ends a fault and measures the recovery: when the cluster served a
// consistent read again after the heal, and (available, from the probe
// started with the fault) after the fault began.
func (n *nemesis) heal(kind Kind, heal func() error, f *history.Fault, available <-chan time.Time) {
	if err := heal(); err != nil {
		n.o.Logf("nemesis %s: heal: %v", kind, err)
	}
	f.Healed = time.Now()
	f.Recovered = n.c.WaitAvailable(context.Background(), n.o.RecoveryLimit)
	f.Available = <-available
	n.o.Logf("nemesis %s healed; cluster available again after %s", kind, recovery(*f))
}

// probe measures, from now, when the cluster next serves a consistent
// read: how long the fault made it unavailable.
func (n *nemesis) probe(limit time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() { out <- n.c.WaitAvailable(context.Background(), limit) }()
	return out
}

func recovery(f history.Fault) string {
	if d := f.Recovery(); d >= 0 {
		return d.Round(time.Millisecond).String()
	}
	return "never (within the limit)"
}

func (n *nemesis) pick(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[n.rng.Intn(len(ids))]
}

func (n *nemesis) kill(ctx context.Context, kind Kind, f *history.Fault) (func() error, error) {
	var victim string
	switch kind {
	case KillLeader:
		victim = n.c.Leader(ctx)
		f.Detail = "the leader"
	case KillStep:
		victim = n.runningStepNode(ctx)
		f.Detail = "the node whose step runs"
		if victim == "" {
			f.Detail = "no step ran: a random node"
		}
	}
	if victim == "" {
		victim = n.pick(n.c.Live())
		if f.Detail == "" {
			f.Detail = "a random node"
		}
	}
	if victim == "" {
		return nil, fmt.Errorf("no live node")
	}
	n.c.Kill(victim)
	f.Nodes = []string{victim}
	return func() error { return n.c.Restart(victim) }, nil
}

// runningStepNode finds the node whose step of the active transaction
// runs, asking the live agents' local state.
func (n *nemesis) runningStepNode(ctx context.Context) string {
	for _, id := range n.c.Live() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		t, _, err := n.c.Client(id).Upgrade(rctx, "active", api.Wait{})
		cancel()
		if err != nil {
			continue
		}
		var running []string
		for _, s := range t.Steps {
			if s.State == api.StepRunning {
				running = append(running, s.Node)
			}
		}
		return n.pick(running)
	}
	return ""
}

func (n *nemesis) pause(ctx context.Context, f *history.Fault) (func() error, error) {
	victim := ""
	if n.rng.Intn(2) == 0 {
		victim, f.Detail = n.c.Leader(ctx), "the leader"
	}
	if victim == "" {
		victim, f.Detail = n.pick(n.c.Live()), "a random node"
	}
	if victim == "" {
		return nil, fmt.Errorf("no live node")
	}
	if err := n.c.Pause(victim); err != nil {
		return nil, err
	}
	f.Nodes = []string{victim}
	return func() error { return n.c.Resume(victim) }, nil
}

func (n *nemesis) partition(ctx context.Context, kind Kind, f *history.Fault) (func() error, error) {
	ids := n.c.IDs()
	n.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	var left, right, bridge []string
	switch kind {
	case PartitionMajority:
		cut := (len(ids) - 1) / 2
		left, right = ids[:cut], ids[cut:]
		f.Detail = fmt.Sprintf("minority %v | majority %v", left, right)
	case PartitionLeader:
		leader := n.c.Leader(ctx)
		if leader == "" {
			return nil, fmt.Errorf("no leader to isolate")
		}
		left = []string{leader}
		for _, id := range ids {
			if id != leader {
				right = append(right, id)
			}
		}
		f.Detail = fmt.Sprintf("leader %s alone", leader)
	case PartitionBridge:
		bridge = ids[:1]
		rest := ids[1:]
		left, right = rest[:len(rest)/2], rest[len(rest)/2:]
		f.Detail = fmt.Sprintf("%v | bridge %s | %v", left, bridge[0], right)
	}
	var pairs [][2]string
	for _, a := range left {
		for _, b := range right {
			pairs = append(pairs, [2]string{a, b})
		}
	}
	if err := n.c.Partition(pairs); err != nil {
		return nil, err
	}
	f.Nodes = append(append(append([]string(nil), left...), bridge...), right...)
	return n.c.HealNetwork, nil
}

// hookLane opens windows during which hooks fail or hang at a set
// probability, drawn per hook run from the fault seed.
func (n *nemesis) hookLane(ctx context.Context, kinds []Kind) {
	for ctx.Err() == nil {
		if !sleep(ctx, n.between(5*time.Second, 15*time.Second)) {
			return
		}
		kind := kinds[n.rng.Intn(len(kinds))]
		percent := 20 + n.rng.Intn(30)
		window := n.between(10*time.Second, 25*time.Second)
		f := history.Fault{Kind: string(kind), Start: time.Now()}
		switch kind {
		case HookFail:
			_ = n.c.Hooks.Set("fail-percent", strconv.Itoa(percent))
			f.Detail = fmt.Sprintf("installs fail at %d%%", percent)
		case HookHang:
			hang := n.o.HookTimeout / 2
			if n.rng.Intn(2) == 0 {
				hang = n.o.HookTimeout + 5*time.Second
			}
			_ = n.c.Hooks.Set("hang-seconds", strconv.Itoa(int(hang.Seconds())))
			_ = n.c.Hooks.Set("hang-percent", strconv.Itoa(percent))
			f.Detail = fmt.Sprintf("installs hang %s at %d%%, health at %d%%", hang, percent, percent/2)
		}
		n.o.Logf("nemesis %s for %s: %s", kind, window.Round(time.Second), f.Detail)
		sleep(ctx, window)
		_ = n.c.Hooks.Clear("fail-percent")
		_ = n.c.Hooks.Clear("hang-percent")
		f.Healed = time.Now()
		f.Recovered = n.c.WaitAvailable(context.Background(), n.o.RecoveryLimit)
		n.o.Recorder.AddFault(f)
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

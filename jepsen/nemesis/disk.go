package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"

	"github.com/baton-upgrade/baton/jepsen/harness"
	"github.com/baton-upgrade/baton/jepsen/history"
)

// powerLossVictims draws who loses power among the live nodes.
func (n *nemesis) powerLossVictims() []string {
	live := n.c.Live()
	count := rackSize(n.rng, len(n.c.IDs()), n.o.PowerLossMax)
	n.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	return live[:min(count, len(live))]
}

// rackSize draws how many of nodes one power loss takes: one, or now and
// then (one time in four) two or three at once, a rack; never more than
// most, which defaults (0) to a minority. A larger most asked for may be
// drawn whole.
func rackSize(rng *rand.Rand, nodes, most int) int {
	hi := min(most, 3)
	if most <= 0 {
		most = (nodes - 1) / 2
		hi = min(most, 3)
	} else if most > 3 {
		hi = most
	}
	if hi < 2 || rng.Intn(4) != 0 {
		return 1
	}
	return 2 + rng.Intn(hi-1)
}

// powerLoss cuts the power of its victims: SIGKILL and every unsynced
// write of their data dirs dropped. The heal starts them again.
func (n *nemesis) powerLoss(f *history.Fault) (func() error, error) {
	victims := n.powerLossVictims()
	if len(victims) == 0 {
		return nil, errors.New("no live node")
	}
	var parts []string
	var errs []error
	for _, id := range victims {
		loss, err := n.c.PowerLoss(id, n.rng)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
		parts = append(parts, fmt.Sprintf("%s: %s", id, loss))
	}
	f.Nodes = victims
	f.Detail = strings.Join(parts, "; ")
	if len(victims) > 1 {
		f.Detail = fmt.Sprintf("%d at once (a rack); %s", len(victims), f.Detail)
	}
	heal := func() error {
		var errs []error
		for _, id := range victims {
			errs = append(errs, n.c.Restart(id))
		}
		return errors.Join(errs...)
	}
	if err := errors.Join(errs...); err != nil {
		_ = heal()
		return nil, err
	}
	return heal, nil
}

// diskFault makes the leader's disk (half the time) or a random node's
// fill up or fail its fsyncs until the heal. The agent must stop rather
// than run on; the heal starts it again, and the fault's detail says
// whether it stopped.
func (n *nemesis) diskFault(ctx context.Context, kind Kind, f *history.Fault) (func() error, error) {
	victim := ""
	if n.rng.Intn(2) == 0 {
		victim, f.Detail = n.c.Leader(ctx), "the leader"
	}
	if victim == "" {
		victim, f.Detail = n.pick(n.c.Live()), "a random node"
	}
	if victim == "" {
		return nil, errors.New("no live node")
	}
	fault := harness.DiskFull
	if kind == FsyncFail {
		fault = harness.FsyncFail
	}
	if err := n.c.SetDiskFault(victim, fault); err != nil {
		return nil, err
	}
	f.Nodes = []string{victim}
	return func() error {
		stopped, err := n.c.ClearDiskFault(victim)
		if stopped {
			f.Detail += "; the agent stopped on it and was started again"
		} else {
			f.Detail += "; the agent ran on"
		}
		return err
	}, nil
}

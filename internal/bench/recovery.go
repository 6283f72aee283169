package bench

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// RecoveryResult holds the kills of one run.
type RecoveryResult struct {
	// Total is, per kill, the time from SIGKILL of the leader to the
	// first step begun by the new leader's coordinator.
	Total []time.Duration
	// Election is the kill to the new leader's gain of leadership.
	Election []time.Duration
	// Takeover is that gain to the step begun.
	Takeover []time.Duration
	// Late counts kills that came after the transaction's last step had
	// begun, which have no next step to time; they are not samples.
	Late int
}

// Recovery starts a cluster of nodes agents with Raft's timings scaled by
// multiplier, and kills its leader with SIGKILL `kills` times, each time a
// few milliseconds (chosen at random) after a transaction started, while
// its steps run. After each kill it waits for the next step to begin on
// the new leader, restarts the killed agent and lets the transaction end.
// It stops early when limit has passed.
func Recovery(t *T, bin string, nodes int, multiplier float64, kills int, limit time.Duration, rng *rand.Rand) RecoveryResult {
	c := startNoopCluster(t, bin, nodes, multiplier)
	deadline := time.Now().Add(limit)
	var res RecoveryResult
	for i := 0; len(res.Total) < kills && time.Now().Before(deadline); i++ {
		leader := leaderOf(t, c, 30*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		txn, err := leader.Client().StartUpgrade(ctx, api.StartRequest{TargetVersion: versionFor(i), Strategy: "secondaries-first", MaxParallel: "1"})
		cancel()
		if err != nil {
			t.Logf("start: %v; trying again", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		killedAt := time.Now()
		leader.Kill()
		survivor := anyOther(c, leader)
		if !waitBegunAfter(survivor, txn.ID, killedAt, 30*time.Second) {
			res.Late++
		} else if sample, ok := recoverySample(t, c, leader.ID, killedAt); ok {
			res.Total = append(res.Total, sample.total)
			res.Election = append(res.Election, sample.election)
			res.Takeover = append(res.Takeover, sample.takeover)
		}
		leader.Start("--log-level", "info")
		waitTxnEnd(t, c, txn.ID, 2*time.Minute)
		c.WaitMembers(leader, nodes, time.Minute)
	}
	return res
}

func anyOther(c *procs.Cluster, not *procs.Agent) *procs.Agent {
	for _, a := range c.Agents {
		if a != not && !a.Exited() {
			return a
		}
	}
	return nil
}

// waitBegunAfter long-polls a until a step of txn began after t, and
// reports false when the transaction ended first or timeout passed.
func waitBegunAfter(a *procs.Agent, txnID string, t time.Time, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	var index uint64
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		txn, idx, err := a.Client().Upgrade(ctx, txnID, api.Wait{Index: index, Wait: 5 * time.Second})
		cancel()
		if err != nil {
			index = 0
			time.Sleep(20 * time.Millisecond)
			continue
		}
		index = idx
		for _, s := range txn.Steps {
			if s.StartedAt.After(t) {
				return true
			}
		}
		if txn.State != api.TxnRunning {
			return false
		}
	}
	return false
}

type recoveryTimes struct{ total, election, takeover time.Duration }

// recoverySample finds, in the logs, the first step begun after the kill by
// another agent, and that agent's gain of leadership.
func recoverySample(t *T, c *procs.Cluster, killed string, killedAt time.Time) (recoveryTimes, bool) {
	events, err := readEvents(c)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	begun, ok := firstAfter(events, killedAt, func(e logEvent) bool { return e.Msg == "step begun" && e.Agent != killed })
	if !ok {
		return recoveryTimes{}, false
	}
	r := recoveryTimes{total: begun.At.Sub(killedAt)}
	if gained, ok := firstAfter(events, killedAt, func(e logEvent) bool { return e.Msg == "leadership gained" && e.Agent == begun.Agent }); ok {
		r.election, r.takeover = gained.At.Sub(killedAt), begun.At.Sub(gained.At)
	}
	return r, true
}

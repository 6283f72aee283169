package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/executor"
	"github.com/baton-upgrade/baton/node/hooks"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
)

// HooksAlone times n runs of the no-op hook sequence a step runs (drain,
// install, restart, health, version), through the same hook runner the
// executor uses, with nothing else around it: starting /bin/sh five times
// is not free, and this is its cost on this machine.
func HooksAlone(ctx context.Context, n int) ([]time.Duration, error) {
	env := hooks.Env(hooks.StepEnv{NodeID: "n1", TxnID: "t-bench", Attempt: 1, TargetVersion: "2.0.0", FromVersion: "1.0.0", ProtocolVersion: 1})
	seq := []struct{ name, cmd string }{
		{"drain", "true"}, {"install", "true"}, {"restart", "true"}, {"health", "true"},
		{"version", `echo "${BATON_TARGET_VERSION:-1.0.0}"`},
	}
	var out []time.Duration
	for i := range n + 5 {
		start := time.Now()
		for _, h := range seq {
			res := hooks.Run(ctx, hooks.Spec{Name: h.name, Command: h.cmd, Env: env, Timeout: time.Minute, CaptureStdout: h.name == "version"})
			if res.Err != nil {
				return nil, fmt.Errorf("hook %s: %w", h.name, res.Err)
			}
		}
		if i >= 5 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// OverheadResult is what one cluster size gave.
type OverheadResult struct {
	Nodes int
	// PerStep is, for each transaction, its time (leader-stamped creation
	// to finish) divided by its steps.
	PerStep []time.Duration
	// Handoffs are the handoff episodes seen in these transactions.
	Handoffs HandoffResult
	// Parts is, for each part of a transaction's time (see stepParts), its
	// share per step in each transaction.
	Parts map[string][]time.Duration

	created, finished []time.Time
}

// The parts of a transaction's time, in the order a step goes through them.
const (
	PartStart    = "start: txn.start committed to the first step begun"
	PartDeliver  = "delivery: step begun to the node's executor started"
	PartNode     = "node: executor, hooks and journal, start to finish"
	PartNotice   = "notice: step finished on the node to its notice committed"
	PartTurn     = "turn: notice committed to the next step begun"
	PartHandoff  = "handoff: notice committed to the next step begun on the new leader"
	PartFinalize = "finalize: last notice committed to the transaction done"
)

// PartOrder lists the parts for the report.
var PartOrder = []string{PartStart, PartDeliver, PartNode, PartNotice, PartTurn, PartHandoff, PartFinalize}

// CoordinationOverhead starts a cluster of nodes real agents with no-op
// hooks and the default Raft timings, and runs `runs` transactions over it,
// one step at a time (secondaries-first, max-parallel 1: one handoff each,
// before the old leader's own step). A warm-up transaction runs first and
// is not counted.
func CoordinationOverhead(t *T, bin string, nodes, runs int) OverheadResult {
	c := startNoopCluster(t, bin, nodes, 1)
	res := OverheadResult{Nodes: nodes}
	var ids []string
	for i := range runs + 1 {
		txn := startTxn(t, c, api.StartRequest{TargetVersion: versionFor(i), Strategy: "secondaries-first", MaxParallel: "1"})
		done := waitTxnEnd(t, c, txn.ID, 2*time.Minute)
		if i == 0 {
			continue
		}
		ids = append(ids, txn.ID)
		res.created, res.finished = append(res.created, done.CreatedAt), append(res.finished, done.FinishedAt)
		res.PerStep = append(res.PerStep, done.FinishedAt.Sub(done.CreatedAt)/time.Duration(len(done.Steps)))
	}
	res.Handoffs = handoffsIn(t, c, ids)
	events, err := readEvents(c)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	res.Parts = map[string][]time.Duration{}
	for i, id := range ids {
		for part, d := range stepParts(events, id, res.created[i], res.finished[i]) {
			res.Parts[part] = append(res.Parts[part], d)
		}
	}
	return res
}

// stepParts splits the time of transaction id (created and finished as the
// leader stamped them) into the parts of PartOrder, from the agents' logs,
// and returns each part's time per step.
func stepParts(events []logEvent, id string, created, finished time.Time) map[string]time.Duration {
	total := map[string]time.Duration{}
	var (
		steps     int
		lastMark  time.Time // the previous notice committed (or the start)
		lastKind  = PartStart
		handoff   bool
		startedOn = map[string]time.Time{}
		begunAt   = map[string]time.Time{}
		doneOn    = map[string]time.Time{}
	)
	lastMark = created
	for _, e := range events {
		if e.str("txn") != id {
			continue
		}
		switch e.Msg {
		case "handing leadership off":
			handoff = true
		case "step begun":
			node := e.str("node")
			begunAt[node] = e.At
			kind := lastKind
			if handoff {
				kind = PartHandoff
			}
			total[kind] += e.At.Sub(lastMark)
			handoff = false
		case "step started":
			if _, ok := startedOn[e.Agent]; !ok {
				startedOn[e.Agent] = e.At
				total[PartDeliver] += e.At.Sub(begunAt[e.Agent])
			}
		case "step finished":
			doneOn[e.Agent] = e.At
			total[PartNode] += e.At.Sub(startedOn[e.Agent])
		case "completion notice committed":
			node := e.str("node")
			total[PartNotice] += e.At.Sub(doneOn[node])
			lastMark, lastKind = e.At, PartTurn
			steps++
		}
	}
	if steps == 0 {
		return nil
	}
	total[PartFinalize] += finished.Sub(lastMark)
	per := map[string]time.Duration{}
	for _, part := range PartOrder {
		per[part] = total[part] / time.Duration(steps)
	}
	return per
}

// Handoffs runs transactions on a three-node cluster with the primary-first
// strategy until at least n handoffs happened (two per transaction: the
// leader goes first, then its successor's step needs another), and returns
// every handoff episode.
func Handoffs(t *T, bin string, n int, limit time.Duration) HandoffResult {
	c := startNoopCluster(t, bin, 3, 1)
	deadline := time.Now().Add(limit)
	var ids []string
	count := 0
	for i := 0; count < n && time.Now().Before(deadline); i++ {
		txn := startTxn(t, c, api.StartRequest{TargetVersion: versionFor(i), Strategy: "primary-first", MaxParallel: "1"})
		waitTxnEnd(t, c, txn.ID, 2*time.Minute)
		ids = append(ids, txn.ID)
		if i%5 == 4 {
			count = len(handoffsIn(t, c, ids).Total)
		}
	}
	return handoffsIn(t, c, ids)
}

// HandoffResult holds the handoff episodes of a run and their parts.
type HandoffResult struct {
	// Total is, per episode, the time from the coordinator's decision to
	// hand off (before it probes the candidates) to the next step begun by
	// the new leader's coordinator.
	Total []time.Duration
	// Probe is the decision to the end of the candidates' probes.
	Probe []time.Duration
	// Transfer is Raft's leadership transfer, as the old leader timed it.
	Transfer []time.Duration
	// Takeover is the new leader's gain of leadership to its step begun.
	Takeover []time.Duration
	// Retries counts handoffs that failed and were tried again.
	Retries int
}

// handoffsIn extracts the handoff episodes of the given transactions from
// the agents' logs: from the first "handing leadership off" decision
// (decided_at) to the first "step begun" logged by another agent.
func handoffsIn(t *T, c *procs.Cluster, txns []string) HandoffResult {
	events, err := readEvents(c)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	want := map[string]bool{}
	for _, id := range txns {
		want[id] = true
	}
	var res HandoffResult
	for i, e := range events {
		if e.Msg != "handing leadership off" || !want[e.str("txn")] {
			continue
		}
		decided, err := time.Parse(time.RFC3339Nano, e.str("decided_at"))
		if err != nil {
			continue
		}
		// A retry after a failed transfer continues the same episode.
		if prev, ok := lastBefore(events[:i], func(p logEvent) bool {
			return p.Msg == "handing leadership off" || p.Msg == "step begun"
		}); ok && prev.Msg == "handing leadership off" && prev.str("txn") == e.str("txn") {
			res.Retries++
			continue
		}
		begun, ok := firstAfter(events[i:], decided, func(f logEvent) bool { return f.Msg == "step begun" && f.Agent != e.Agent })
		if !ok {
			continue
		}
		res.Total = append(res.Total, begun.At.Sub(decided))
		res.Probe = append(res.Probe, e.At.Sub(decided))
		if handed, ok := firstAfter(events[i:], e.At, func(f logEvent) bool { return f.Msg == "leadership handed off" && f.Agent == e.Agent }); ok {
			if d, ok := handed.duration("took"); ok {
				res.Transfer = append(res.Transfer, d-e.At.Sub(decided))
			}
		}
		if gained, ok := firstAfter(events[i:], decided, func(f logEvent) bool { return f.Msg == "leadership gained" && f.Agent == begun.Agent }); ok && gained.At.Before(begun.At) {
			res.Takeover = append(res.Takeover, begun.At.Sub(gained.At))
		}
	}
	return res
}

// lastBefore returns the last event of events that matches.
func lastBefore(events []logEvent, match func(logEvent) bool) (logEvent, bool) {
	for i := len(events) - 1; i >= 0; i-- {
		if match(events[i]) {
			return events[i], true
		}
	}
	return logEvent{}, false
}

// StepOnNode times n steps run by a node's executor alone, in this
// process: the step journaled in bbolt (in dir) before and after every hook,
// the same no-op hooks, from Start until the outcome is journaled and
// reported. It is what one node spends on a step, without any network or
// Raft around it.
func StepOnNode(ctx context.Context, dir string, n int) ([]time.Duration, error) {
	j, err := journal.Open(filepath.Join(dir, "journal.db"))
	if err != nil {
		return nil, err
	}
	defer j.Close()
	done := make(chan executor.Status, 1)
	ex := executor.New(executor.Options{NodeID: "n1", Journal: j, HealthInterval: time.Second,
		Hooks: config.Hooks{Drain: "true", Install: "true", Restart: "true", Health: "true",
			Version: `echo "${BATON_TARGET_VERSION:-1.0.0}"`, Rollback: "true", Timeout: time.Minute},
		OnFinish: func(_ executor.Step, st executor.Status) { done <- st }})
	defer ex.Close()
	var out []time.Duration
	for i := range n + 5 {
		start := time.Now()
		if _, err := ex.Start(executor.Step{TxnID: fmt.Sprintf("t-%d", i), Node: "n1", Attempt: 1, TargetVersion: "2.0.0", FromVersion: "1.0.0"}); err != nil {
			return nil, err
		}
		select {
		case st := <-done:
			if st.State != api.StepDone {
				return nil, fmt.Errorf("step on node: %s: %s", st.State, st.Error)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if i >= 5 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

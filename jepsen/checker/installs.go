package checker

import (
	"fmt"
	"sort"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
)

// CheckOnce checks I2: the hook journal never shows an attempt's install
// begun twice, and the log never accepts a stale notice, a begin out of
// order, or a second completion of a step.
func CheckOnce(in Input) Result {
	r := newReplay(in)
	checked := r.counts["I2"]
	if v := r.found["I2"]; v != nil {
		return verdict(checked, v)
	}
	seen := map[string]procs.HookEvent{}
	for _, h := range in.Hooks {
		if h.Hook != "install" || h.Kind != "begin" {
			continue
		}
		checked++
		key := fmt.Sprintf("%s/%s/%d", h.Node, h.Txn, h.Attempt)
		if first, ok := seen[key]; ok {
			return verdict(checked, &Violation{At: h.At, Txn: h.Txn, Nodes: []string{h.Node},
				What: fmt.Sprintf("install of attempt %d began twice (first at %s)", h.Attempt, first.At.UTC().Format("15:04:05.000"))})
		}
		seen[key] = h
	}
	return verdict(checked, nil)
}

// CheckMaxParallel checks I3: from the hook journal's wall times, no more
// nodes of a transaction ran install at once than its max-parallel; and the
// log never begins a step beyond it.
func CheckMaxParallel(in Input) Result {
	r := newReplay(in)
	checked := r.counts["I3"]
	if v := r.found["I3"]; v != nil {
		return verdict(checked, v)
	}
	final := finalTxns(in)
	type edge struct {
		at    time.Time
		delta int
		run   installRun
	}
	byTxn := map[string][]edge{}
	for _, run := range installRuns(in) {
		byTxn[run.Txn] = append(byTxn[run.Txn], edge{run.Began, +1, run}, edge{run.Ended, -1, run})
	}
	txns := make([]string, 0, len(byTxn))
	for id := range byTxn {
		txns = append(txns, id)
	}
	sort.Strings(txns)
	var first *Violation
	for _, id := range txns {
		t, ok := final[id]
		if !ok {
			continue
		}
		edges := byTxn[id]
		sort.SliceStable(edges, func(i, j int) bool {
			if edges[i].at.Equal(edges[j].at) {
				return edges[i].delta < edges[j].delta
			}
			return edges[i].at.Before(edges[j].at)
		})
		running := map[string]bool{}
		for _, e := range edges {
			checked++
			if e.delta < 0 {
				delete(running, e.run.Node)
				continue
			}
			running[e.run.Node] = true
			if len(running) > t.MaxParallel {
				var nodes []string
				for n := range running {
					nodes = append(nodes, n)
				}
				sort.Strings(nodes)
				v := &Violation{At: e.at, Txn: id, Nodes: nodes,
					What: fmt.Sprintf("%d installs ran at once, max-parallel is %d", len(running), t.MaxParallel)}
				if first == nil || v.At.Before(first.At) {
					first = v
				}
				break
			}
		}
	}
	return verdict(checked, first)
}

// CheckNoLeaderInstall checks I4: no install began on a node while that
// node believed it was the Raft leader (its log's leadership spans).
func CheckNoLeaderInstall(in Input) Result {
	checked := 0
	for _, run := range installRuns(in) {
		checked++
		if procs.LeaderAt(in.Tenures, run.Node, run.Began) {
			return verdict(checked, &Violation{At: run.Began, Txn: run.Txn, Nodes: []string{run.Node},
				What: fmt.Sprintf("install of attempt %d began while %s was the leader", run.Attempt, run.Node)})
		}
	}
	res := verdict(checked, nil)
	if len(in.Tenures) == 0 {
		res.Note = "no leadership spans were logged"
	}
	return res
}

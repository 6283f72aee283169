package checker

import (
	"fmt"
	"sort"
)

// CheckRingNeighbours checks I9: in a ring transaction (its final read
// names the ring it was planned on), the log never begins a step, upgrade
// or rollback, of a node while the step of one of its ring neighbours runs
// (the last node and the first are neighbours), and the hook journal never
// shows the installs of two ring neighbours running at the same time.
func CheckRingNeighbours(in Input) Result {
	r := newReplay(in)
	checked := r.counts["I9"]
	if v := r.found["I9"]; v != nil {
		return verdict(checked, v)
	}
	byTxn := map[string][]installRun{}
	for _, run := range installRuns(in) {
		byTxn[run.Txn] = append(byTxn[run.Txn], run)
	}
	txns := make([]string, 0, len(byTxn))
	for id := range byTxn {
		txns = append(txns, id)
	}
	sort.Strings(txns)
	for _, id := range txns {
		t := r.txns[id]
		if t == nil || len(t.ring) < 2 {
			continue
		}
		runs := byTxn[id]
		for i, a := range runs {
			for _, b := range runs[i+1:] {
				checked++
				if !neighbours(t.ring, a.Node, b.Node) || !a.Began.Before(b.Ended) || !b.Began.Before(a.Ended) {
					continue
				}
				first, second := a, b
				if second.Began.Before(first.Began) {
					first, second = second, first
				}
				return verdict(checked, &Violation{At: second.Began, Txn: id, Nodes: []string{first.Node, second.Node},
					What: fmt.Sprintf("install on %s (attempt %d) began while the install on its ring neighbour %s (attempt %d) ran (ring %v)",
						second.Node, second.Attempt, first.Node, first.Attempt, t.ring)})
			}
		}
	}
	return verdict(checked, nil)
}

// ringNeighbours returns the nodes next to id in ring (the last node's
// successor is the first); none when id is not in it.
func ringNeighbours(ring []string, id string) []string {
	for i, n := range ring {
		if n != id {
			continue
		}
		var out []string
		for _, nb := range []string{ring[(i+len(ring)-1)%len(ring)], ring[(i+1)%len(ring)]} {
			if nb != id && (len(out) == 0 || out[0] != nb) {
				out = append(out, nb)
			}
		}
		return out
	}
	return nil
}

// neighbours reports whether a and b are next to each other in ring.
func neighbours(ring []string, a, b string) bool {
	for _, nb := range ringNeighbours(ring, a) {
		if nb == b {
			return true
		}
	}
	return false
}

package strategy

import (
	"fmt"
	"slices"
	"strings"
)

// Ring is S2's rule: the nodes around the failover ring, taking
// non-adjacent nodes from its first: every other node of the ring, then
// the ones skipped. Batches never hold two ring neighbours (the last and
// the first are neighbours), whatever max-parallel says, so a node is never
// down with the node that takes over its traffic; a ring of three forces
// batches of one.
const Ring = "ring"

// ring is the ring strategy (S2).
type ring struct{}

// Name implements Strategy.
func (ring) Name() string { return Ring }

// Summary implements Strategy.
func (ring) Summary() string {
	return "around the failover ring from its first node, every other node first, never two ring neighbours at once"
}

// Order implements Strategy: the ring's nodes at even positions (from its
// first), then those at odd positions.
func (ring) Order(in Input) ([]string, string, error) {
	r := in.RingOrder()
	var order []string
	for start := range 2 {
		for i := start; i < len(r); i += 2 {
			order = append(order, r[i])
		}
	}
	return order, fmt.Sprintf("ring %s (the last one's successor is the first): every other node from the first, then the others",
		strings.Join(r, " ")), nil
}

// Batches implements Strategy: the shared limits, and no two ring
// neighbours in one batch.
func (ring) Batches(order []string, in Input, maxParallel int) ([][]string, error) {
	r := in.RingOrder()
	return CutBatches(order, in.Nodes, maxParallel, func(batch []string, id string) bool {
		return !slices.ContainsFunc(batch, func(x string) bool { return RingNeighbours(r, x, id) })
	})
}

// RingOrder is in.Ring restricted to in.Nodes, with the nodes it does not
// list appended in natural id order: the ring every node of in is on, the
// one the ring strategy plans with.
func (in Input) RingOrder() []string {
	nodes := make(map[string]bool, len(in.Nodes))
	for _, n := range in.Nodes {
		nodes[n.ID] = true
	}
	var out []string
	for _, id := range in.Ring {
		if nodes[id] {
			out = append(out, id)
			delete(nodes, id)
		}
	}
	var rest []string
	for _, n := range in.Nodes {
		if nodes[n.ID] {
			rest = append(rest, n.ID)
		}
	}
	slices.SortFunc(rest, CompareID)
	return append(out, rest...)
}

// RingNeighbours reports whether a and b are next to each other on ring
// (the last and the first are neighbours).
func RingNeighbours(ring []string, a, b string) bool {
	i, j := slices.Index(ring, a), slices.Index(ring, b)
	if i < 0 || j < 0 || i == j {
		return false
	}
	d := (i - j + len(ring)) % len(ring)
	return d == 1 || d == len(ring)-1
}

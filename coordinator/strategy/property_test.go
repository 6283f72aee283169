package strategy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomID draws IDs that stress natural order: digit runs of varied
// length, leading zeros, separators and mixed prefixes.
func randomID(rng *rand.Rand) string {
	prefixes := []string{"n", "node-", "db", "N", "", "rack1-n", "a.b"}
	id := prefixes[rng.IntN(len(prefixes))] + fmt.Sprint(rng.IntN(120))
	if rng.IntN(5) == 0 {
		id = prefixes[rng.IntN(len(prefixes))] + "0" + id
	}
	if id == "" {
		id = "x"
	}
	return id
}

// randomCluster returns 1..12 nodes with unique IDs, a random voter mix
// and a zone label on each.
func randomCluster(rng *rand.Rand) []Node {
	size := 1 + rng.IntN(12)
	seen := map[string]bool{}
	var nodes []Node
	for len(nodes) < size {
		id := randomID(rng)
		if seen[id] {
			continue
		}
		seen[id] = true
		zone := []string{"a", "b", "c"}[rng.IntN(3)]
		addr := fmt.Sprintf("10.0.%d.%d", rng.IntN(3), 1+rng.IntN(250))
		nodes = append(nodes, Node{ID: id, Voter: rng.IntN(4) != 0, Labels: map[string]string{"zone": zone}, Addr: addr})
	}
	return nodes
}

// randomLeader is a member, or (a case in four each) no leader or one that
// is not a member.
func randomLeader(rng *rand.Rand, nodes []Node) string {
	switch rng.IntN(4) {
	case 0:
		return "" // no leader known
	case 1:
		return "not-a-member"
	default:
		return nodes[rng.IntN(len(nodes))].ID
	}
}

func idsOf(nodes []Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// TestEveryStrategyKeepsTheContract runs every registered strategy on
// random clusters and checks what Strategy promises, calling the strategy
// itself (not Plan, whose own checks would hide a broken answer): every
// node in exactly one batch, the batches concatenating to the order, no
// batch over max-parallel or the quorum budget, inputs left unchanged, and
// the same answer for the same input in any node order.
func TestEveryStrategyKeepsTheContract(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 7))
	for i := range 200 {
		nodes := randomCluster(rng)
		leader := randomLeader(rng, nodes)
		maxParallel := 1 + rng.IntN(len(nodes)+2)
		shuffled := slices.Clone(nodes)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })

		for _, s := range All() {
			t.Run(fmt.Sprintf("case %d %s", i, s.Name()), func(t *testing.T) {
				in := Input{Nodes: nodes, Leader: leader, MaxParallel: maxParallel}
				before := slices.Clone(nodes)
				order, reason, err := s.Order(in)
				require.NoError(t, err)
				require.Equal(t, before, nodes, "Order must not change the nodes")
				require.NotEmpty(t, reason, "every order says which rule made it")
				require.ElementsMatch(t, idsOf(nodes), order, "every node exactly once")

				orderBefore := slices.Clone(order)
				batches, err := s.Batches(order, in, maxParallel)
				require.NoError(t, err)
				require.Equal(t, orderBefore, order, "Batches must not change the order")
				require.Equal(t, before, nodes, "Batches must not change the nodes")
				require.Equal(t, order, slices.Concat(batches...), "the batches concatenate to the order")
				requireLimits(t, batches, nodes, maxParallel)

				for _, again := range []Input{in, {Nodes: shuffled, Leader: leader, MaxParallel: maxParallel}} {
					order2, reason2, err := s.Order(again)
					require.NoError(t, err)
					batches2, err := s.Batches(order2, again, maxParallel)
					require.NoError(t, err)
					require.Equal(t, order, order2, "deterministic order, whatever the order of the nodes")
					require.Equal(t, reason, reason2)
					require.Equal(t, batches, batches2, "deterministic batches")
				}

				res, err := Plan(s.Name(), in, maxParallel)
				require.NoError(t, err)
				res.Groups = nil // grouped's groups: grouped_test.go
				require.Equal(t, Result{Strategy: s.Name(), Order: order, Batches: batches, Reason: reason}, res,
					"Plan gives the strategy's own answer")
			})
		}
	}
}

// requireLimits checks the limits every batch keeps, counted here
// independently of CheckBatches: not empty, at most maxParallel nodes, at
// most the quorum budget of voters.
func requireLimits(t *testing.T, batches [][]string, nodes []Node, maxParallel int) {
	t.Helper()
	voter := map[string]bool{}
	total := 0
	for _, n := range nodes {
		voter[n.ID] = n.Voter
		if n.Voter {
			total++
		}
	}
	for i, b := range batches {
		require.NotEmpty(t, b, "batch %d", i)
		require.LessOrEqual(t, len(b), maxParallel, "batch %d size", i)
		count := 0
		for _, id := range b {
			if voter[id] {
				count++
			}
		}
		require.LessOrEqual(t, count, QuorumBudget(total), "batch %d voters", i)
	}
}

// TestS1OrderProperties checks the rules of S1's three strategies on
// random clusters: by-id sorts naturally; secondaries-first puts the
// primary last and primary-first puts it first, the others in natural
// order; with no primary among the nodes both fall back to by-id. Their
// batches are cut by the shared limits alone, closed only when the next
// node does not fit.
func TestS1OrderProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 7))
	names := []string{ByID, SecondariesFirst, PrimaryFirst}
	for i := range 200 {
		nodes := randomCluster(rng)
		leader := randomLeader(rng, nodes)
		name := names[rng.IntN(len(names))]
		maxParallel := 1 + rng.IntN(len(nodes)+2)

		t.Run(fmt.Sprintf("case %d %s", i, name), func(t *testing.T) {
			res, err := Plan(name, Input{Nodes: nodes, Leader: leader}, maxParallel)
			require.NoError(t, err)
			order := res.Order

			leaderIn := slices.Contains(idsOf(nodes), leader)
			rest := slices.DeleteFunc(slices.Clone(order), func(id string) bool { return leaderIn && id == leader })
			require.True(t, slices.IsSortedFunc(rest, CompareID), "non-leaders must be in by-id order: %v", order)
			switch {
			case name == SecondariesFirst && leaderIn:
				require.Equal(t, leader, order[len(order)-1], "leader must be last")
			case name == PrimaryFirst && leaderIn:
				require.Equal(t, leader, order[0], "leader must be first")
			default:
				require.True(t, slices.IsSortedFunc(order, CompareID), "by-id order expected: %v", order)
			}
			requireBatchLimits(t, res.Batches, order, nodes, maxParallel)
		})
	}
}

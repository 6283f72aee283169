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

// randomCluster returns 1..12 nodes with unique IDs and a random voter mix.
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
		nodes = append(nodes, Node{ID: id, Voter: rng.IntN(4) != 0})
	}
	return nodes
}

func TestOrderAndBatchesProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 7))
	for i := range 200 {
		nodes := randomCluster(rng)
		var leader string
		switch rng.IntN(4) {
		case 0:
			leader = "" // no leader known
		case 1:
			leader = "not-a-member"
		default:
			leader = nodes[rng.IntN(len(nodes))].ID
		}
		name := Names()[rng.IntN(len(Names()))]
		maxParallel := 1 + rng.IntN(len(nodes)+2)

		t.Run(fmt.Sprintf("case %d %s", i, name), func(t *testing.T) {
			before := slices.Clone(nodes)
			order, err := Order(name, nodes, leader)
			require.NoError(t, err)
			require.Equal(t, before, nodes, "Order must not mutate nodes")

			want := make([]string, len(nodes))
			for j, n := range nodes {
				want[j] = n.ID
			}
			require.ElementsMatch(t, want, order, "Order must be a permutation of the IDs")

			leaderIn := slices.Contains(want, leader)
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

			again, err := Order(name, nodes, leader)
			require.NoError(t, err)
			require.Equal(t, order, again, "Order must be deterministic")

			batches, err := Batches(order, nodes, maxParallel)
			require.NoError(t, err)
			requireBatchLimits(t, batches, order, nodes, maxParallel)
		})
	}
}

// TestCompareIDIsATotalOrder checks antisymmetry, that only identical
// strings compare equal, and transitivity (through a sorted sequence whose
// every pair must agree) on generated IDs.
func TestCompareIDIsATotalOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "-", ".", "0", "1", "2", "9", "Z", "é"}
	ids := make([]string, 300)
	for i := range ids {
		n := rng.IntN(6)
		for range n {
			ids[i] += alphabet[rng.IntN(len(alphabet))]
		}
	}
	for _, a := range ids {
		for _, b := range ids {
			c := CompareID(a, b)
			require.Equal(t, -c, CompareID(b, a), "%q vs %q", a, b)
			require.Equal(t, a == b, c == 0, "%q vs %q", a, b)
		}
	}
	slices.SortFunc(ids, CompareID)
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			require.LessOrEqual(t, CompareID(ids[i], ids[j]), 0, "%q before %q", ids[i], ids[j])
		}
	}
}

package strategy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// ringInput is a cluster of the given nodes (every one a non-voter, so that
// only max-parallel and the ring limit the batches, unless voters) on ring.
func ringInput(ring []string, voters bool) Input {
	in := Input{Ring: ring}
	for _, id := range ring {
		in.Nodes = append(in.Nodes, Node{ID: id, Voter: voters})
	}
	return in
}

func TestRingBatches(t *testing.T) {
	five := []string{"n1", "n2", "n3", "n4", "n5"}
	cases := []struct {
		name        string
		in          Input
		maxParallel int
		want        [][]string
	}{
		{"a 5-ring, max-parallel 2: every other node first", ringInput(five, false), 2,
			[][]string{{"n1", "n3"}, {"n5", "n2"}, {"n4"}}},
		{"a 5-ring, max-parallel 5: the last and the first are neighbours", ringInput(five, false), 5,
			[][]string{{"n1", "n3"}, {"n5", "n2"}, {"n4"}}},
		{"five voters: the quorum budget (2) still applies", ringInput(five, true), 5,
			[][]string{{"n1", "n3"}, {"n5", "n2"}, {"n4"}}},
		{"a 6-ring halves", ringInput([]string{"a", "b", "c", "d", "e", "f"}, false), 6,
			[][]string{{"a", "c", "e"}, {"b", "d", "f"}}},
		{"a 3-ring forces batches of one", ringInput([]string{"n1", "n2", "n3"}, false), 3,
			[][]string{{"n1"}, {"n3"}, {"n2"}}},
		{"a 2-ring", ringInput([]string{"n2", "n1"}, false), 2, [][]string{{"n2"}, {"n1"}}},
		{"a ring of one", ringInput([]string{"n1"}, false), 4, [][]string{{"n1"}}},
		{"the ring's order, not the ids'", ringInput([]string{"n4", "n1", "n5", "n2", "n3"}, false), 2,
			[][]string{{"n4", "n5"}, {"n3", "n1"}, {"n2"}}},
		{"max-parallel 1: one at a time in the same order", ringInput(five, false), 1,
			[][]string{{"n1"}, {"n3"}, {"n5"}, {"n2"}, {"n4"}}},
		{"members the ring does not list are appended in natural id order",
			Input{Ring: []string{"n3", "gone", "n1"}, Nodes: []Node{{ID: "n10"}, {ID: "n1"}, {ID: "n3"}, {ID: "n2"}}}, 4,
			[][]string{{"n3", "n2"}, {"n1", "n10"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Plan(Ring, tc.in, tc.maxParallel)
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Batches)
			require.Contains(t, res.Reason, "ring ")
		})
	}
}

func TestRingNeighbours(t *testing.T) {
	r := []string{"a", "b", "c", "d"}
	require.True(t, RingNeighbours(r, "a", "b"))
	require.True(t, RingNeighbours(r, "d", "a"), "the last and the first")
	require.False(t, RingNeighbours(r, "a", "c"))
	require.False(t, RingNeighbours(r, "a", "a"))
	require.False(t, RingNeighbours(r, "a", "z"))
}

// TestRingBatchesProperties draws random rings, voter mixes and
// max-parallel values: no batch holds two ring neighbours, every node is in
// exactly one batch, and the batches start at the ring's first node.
func TestRingBatchesProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261201, 11))
	for i := range 500 {
		nodes := randomCluster(rng)
		ring := idsOf(nodes)
		rng.Shuffle(len(ring), func(a, b int) { ring[a], ring[b] = ring[b], ring[a] })
		maxParallel := 1 + rng.IntN(len(nodes)+2)
		t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
			res, err := Plan(Ring, Input{Nodes: nodes, Ring: ring}, maxParallel)
			require.NoError(t, err)
			require.Equal(t, ring[0], res.Batches[0][0], "the first batch starts at the ring's first node")
			require.ElementsMatch(t, ring, slices.Concat(res.Batches...), "every node in exactly one batch")
			for b, batch := range res.Batches {
				for _, x := range batch {
					for _, y := range batch {
						require.False(t, RingNeighbours(ring, x, y), "batch %d of %v holds neighbours %s and %s (ring %v)", b, res.Batches, x, y, ring)
					}
				}
			}
			requireLimits(t, res.Batches, nodes, maxParallel)
			if len(ring) == 3 {
				for _, batch := range res.Batches {
					require.Len(t, batch, 1, "a 3-ring forces batches of one")
				}
			}
		})
	}
}

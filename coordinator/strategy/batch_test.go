package strategy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuorumBudget(t *testing.T) {
	// One and two voters cannot keep a quorum while a voter is down, but
	// every voter has to upgrade, so the budget is still 1.
	want := map[int]int{-1: 0, 0: 0, 1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 3, 8: 3, 9: 4, 100: 49}
	for voters, budget := range want {
		require.Equal(t, budget, QuorumBudget(voters), "voters=%d", voters)
	}
}

// ids returns prefix1..prefixN.
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

func TestBatchesTable(t *testing.T) {
	// mixed: three voters (v) interleaved with three non-voters (w).
	mixed := []Node{{ID: "v1", Voter: true}, {ID: "w1"}, {ID: "v2", Voter: true}, {ID: "w2"}, {ID: "v3", Voter: true}, {ID: "w3"}}
	interleaved := []string{"v1", "w1", "v2", "w2", "v3", "w3"}
	votersFirst := []string{"v1", "v2", "v3", "w1", "w2", "w3"}
	nonVoters := []Node{{ID: "w1"}, {ID: "w2"}, {ID: "w3"}, {ID: "w4"}, {ID: "w5"}}

	cases := []struct {
		name        string
		nodes       []Node
		order       []string
		maxParallel int
		want        [][]string
	}{
		{"1 voter mp1", voters(ids("n", 1)...), ids("n", 1), 1, [][]string{{"n1"}}},
		{"1 voter mp100", voters(ids("n", 1)...), ids("n", 1), 100, [][]string{{"n1"}}},
		{"2 voters mp1", voters(ids("n", 2)...), ids("n", 2), 1, [][]string{{"n1"}, {"n2"}}},
		{"2 voters mp2", voters(ids("n", 2)...), ids("n", 2), 2, [][]string{{"n1"}, {"n2"}}},
		{"2 voters mp100", voters(ids("n", 2)...), ids("n", 2), 100, [][]string{{"n1"}, {"n2"}}},
		{"3 voters mp1", voters(ids("n", 3)...), ids("n", 3), 1, [][]string{{"n1"}, {"n2"}, {"n3"}}},
		{"3 voters mp2", voters(ids("n", 3)...), ids("n", 3), 2, [][]string{{"n1"}, {"n2"}, {"n3"}}},
		{"3 voters mp3", voters(ids("n", 3)...), ids("n", 3), 3, [][]string{{"n1"}, {"n2"}, {"n3"}}},
		{"3 voters mp100", voters(ids("n", 3)...), ids("n", 3), 100, [][]string{{"n1"}, {"n2"}, {"n3"}}},
		{"5 voters mp1", voters(ids("n", 5)...), ids("n", 5), 1, [][]string{{"n1"}, {"n2"}, {"n3"}, {"n4"}, {"n5"}}},
		{"5 voters mp2", voters(ids("n", 5)...), ids("n", 5), 2, [][]string{{"n1", "n2"}, {"n3", "n4"}, {"n5"}}},
		{"5 voters mp3", voters(ids("n", 5)...), ids("n", 5), 3, [][]string{{"n1", "n2"}, {"n3", "n4"}, {"n5"}}},
		{"5 voters mp100", voters(ids("n", 5)...), ids("n", 5), 100, [][]string{{"n1", "n2"}, {"n3", "n4"}, {"n5"}}},
		{"7 voters mp1", voters(ids("n", 7)...), ids("n", 7), 1,
			[][]string{{"n1"}, {"n2"}, {"n3"}, {"n4"}, {"n5"}, {"n6"}, {"n7"}}},
		{"7 voters mp2", voters(ids("n", 7)...), ids("n", 7), 2,
			[][]string{{"n1", "n2"}, {"n3", "n4"}, {"n5", "n6"}, {"n7"}}},
		{"7 voters mp3", voters(ids("n", 7)...), ids("n", 7), 3,
			[][]string{{"n1", "n2", "n3"}, {"n4", "n5", "n6"}, {"n7"}}},
		{"7 voters mp100", voters(ids("n", 7)...), ids("n", 7), 100,
			[][]string{{"n1", "n2", "n3"}, {"n4", "n5", "n6"}, {"n7"}}},
		{"7 voters keeps a reversed order", voters(ids("n", 7)...),
			[]string{"n7", "n6", "n5", "n4", "n3", "n2", "n1"}, 3,
			[][]string{{"n7", "n6", "n5"}, {"n4", "n3", "n2"}, {"n1"}}},
		{"interleaved non-voters mp1", mixed, interleaved, 1,
			[][]string{{"v1"}, {"w1"}, {"v2"}, {"w2"}, {"v3"}, {"w3"}}},
		{"interleaved non-voters mp2", mixed, interleaved, 2,
			[][]string{{"v1", "w1"}, {"v2", "w2"}, {"v3", "w3"}}},
		{"interleaved non-voters mp3", mixed, interleaved, 3,
			[][]string{{"v1", "w1"}, {"v2", "w2"}, {"v3", "w3"}}},
		{"interleaved non-voters mp100", mixed, interleaved, 100,
			[][]string{{"v1", "w1"}, {"v2", "w2"}, {"v3", "w3"}}},
		{"voters then non-voters mp3", mixed, votersFirst, 3,
			[][]string{{"v1"}, {"v2"}, {"v3", "w1", "w2"}, {"w3"}}},
		{"voters then non-voters mp100", mixed, votersFirst, 100,
			[][]string{{"v1"}, {"v2"}, {"v3", "w1", "w2", "w3"}}},
		{"non-voters only mp2", nonVoters, ids("w", 5), 2, [][]string{{"w1", "w2"}, {"w3", "w4"}, {"w5"}}},
		{"non-voters only mp100", nonVoters, ids("w", 5), 100, [][]string{{"w1", "w2", "w3", "w4", "w5"}}},
		{"budget counts every voter of the cluster", voters(ids("n", 5)...), []string{"n4", "n5"}, 3,
			[][]string{{"n4", "n5"}}},
		{"empty order", voters(ids("n", 3)...), nil, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nodesBefore, orderBefore := slices.Clone(tc.nodes), slices.Clone(tc.order)
			got, err := CutBatches(tc.order, tc.nodes, tc.maxParallel, nil)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			requireBatchLimits(t, got, tc.order, tc.nodes, tc.maxParallel)
			require.Equal(t, nodesBefore, tc.nodes)
			require.Equal(t, orderBefore, tc.order)
		})
	}
}

// requireBatchLimits checks what must hold for every result of CutBatches
// without a strategy's own constraint: the
// concatenation is the order, no batch is empty or above maxParallel, no
// batch holds more voters than the quorum budget, and every batch but the
// last was closed only because its successor's first node did not fit.
func requireBatchLimits(t *testing.T, batches [][]string, order []string, nodes []Node, maxParallel int) {
	t.Helper()
	voter := map[string]bool{}
	total := 0
	for _, n := range nodes {
		voter[n.ID] = n.Voter
		if n.Voter {
			total++
		}
	}
	budget := QuorumBudget(total)
	votersIn := func(batch []string) int {
		count := 0
		for _, id := range batch {
			if voter[id] {
				count++
			}
		}
		return count
	}
	require.Equal(t, order, slices.Concat(batches...), "concatenated batches must equal the order")
	for i, batch := range batches {
		require.NotEmpty(t, batch, "batch %d", i)
		require.LessOrEqual(t, len(batch), maxParallel, "batch %d size", i)
		require.LessOrEqual(t, votersIn(batch), budget, "batch %d voters", i)
		if i+1 < len(batches) {
			next := batches[i+1][0]
			fits := len(batch) < maxParallel && (!voter[next] || votersIn(batch) < budget)
			require.False(t, fits, "batch %d was closed although %s fitted", i, next)
		}
	}
}

func TestBatchesErrors(t *testing.T) {
	cases := []struct {
		name        string
		order       []string
		nodes       []Node
		maxParallel int
		wantErr     error
		wantText    string
	}{
		{"zero max-parallel", ids("n", 2), voters(ids("n", 2)...), 0, nil, "max-parallel 0: must be at least 1"},
		{"negative max-parallel", ids("n", 2), voters(ids("n", 2)...), -3, nil, "max-parallel -3: must be at least 1"},
		{"unknown node", []string{"n1", "n9"}, voters(ids("n", 2)...), 1, ErrInvalidNodes,
			`invalid nodes: ordered node "n9" is not a member`},
		{"node twice in order", []string{"n1", "n2", "n1"}, voters(ids("n", 2)...), 1, ErrInvalidNodes,
			`invalid nodes: node "n1" appears twice in the order`},
		{"duplicate member", ids("n", 1), voters("n1", "n1"), 1, ErrInvalidNodes,
			`invalid nodes: node ID "n1" appears twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CutBatches(tc.order, tc.nodes, tc.maxParallel, nil)
			require.Nil(t, got)
			require.EqualError(t, err, tc.wantText)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
}

// TestCutBatchesWithAStrategysConstraint: a strategy's Fits closes batches
// beyond the shared limits, is never asked about a batch's first node, and
// cannot lift a shared limit.
func TestCutBatchesWithAStrategysConstraint(t *testing.T) {
	// Neighbours in a ring of n1..n6 may not share a batch.
	ring := ids("n", 6)
	pos := map[string]int{}
	for i, id := range ring {
		pos[id] = i
	}
	neighbours := func(a, b string) bool {
		d := (pos[a] - pos[b] + len(ring)) % len(ring)
		return d == 1 || d == len(ring)-1
	}
	var asked [][]string
	apart := func(batch []string, id string) bool {
		asked = append(asked, append(slices.Clone(batch), id))
		for _, x := range batch {
			if neighbours(x, id) {
				return false
			}
		}
		return true
	}
	nonVoters := []Node{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}, {ID: "n4"}, {ID: "n5"}, {ID: "n6"}}
	cases := []struct {
		name        string
		nodes       []Node
		order       []string
		maxParallel int
		want        [][]string
	}{
		{"ring order: every pair neighbours", nonVoters, ring, 6,
			[][]string{{"n1"}, {"n2"}, {"n3"}, {"n4"}, {"n5"}, {"n6"}}},
		{"every other node", nonVoters, []string{"n1", "n3", "n5", "n2", "n4", "n6"}, 6,
			[][]string{{"n1", "n3", "n5"}, {"n2", "n4", "n6"}}},
		{"the last and the first are neighbours", nonVoters, []string{"n2", "n4", "n6", "n1", "n3", "n5"}, 6,
			[][]string{{"n2", "n4", "n6"}, {"n1", "n3", "n5"}}},
		{"max-parallel still applies", nonVoters, []string{"n1", "n3", "n5", "n2", "n4", "n6"}, 2,
			[][]string{{"n1", "n3"}, {"n5", "n2"}, {"n4", "n6"}}},
		{"the quorum budget still applies", voters(ring...), []string{"n1", "n3", "n5", "n2", "n4", "n6"}, 6,
			[][]string{{"n1", "n3"}, {"n5", "n2"}, {"n4", "n6"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked = nil
			got, err := CutBatches(tc.order, tc.nodes, tc.maxParallel, apart)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.NoError(t, CheckBatches(got, tc.order, tc.nodes, tc.maxParallel))
			for _, q := range asked {
				require.Greater(t, len(q), 1, "fits is not asked about the first node of a batch")
			}
		})
	}
}

func TestCheckBatches(t *testing.T) {
	five := voters(ids("n", 5)...)
	order := ids("n", 5)
	cases := []struct {
		name        string
		batches     [][]string
		maxParallel int
		want        string
	}{
		{"valid", [][]string{{"n1", "n2"}, {"n3", "n4"}, {"n5"}}, 2, ""},
		{"empty batch", [][]string{{"n1"}, {}, {"n2", "n3"}, {"n4", "n5"}}, 2, "batch 2 is empty"},
		{"over max-parallel", [][]string{{"n1"}, {"n2", "n3"}, {"n4", "n5"}}, 1, "batch 2 holds 2 nodes, max-parallel is 1"},
		{"over the quorum budget", [][]string{{"n1", "n2", "n3"}, {"n4", "n5"}}, 3, "batch 1 holds 3 voters, the quorum budget is 2"},
		{"out of order", [][]string{{"n2", "n1"}, {"n3", "n4"}, {"n5"}}, 2, `batch 1: "n2" is not next in the order`},
		{"a node twice", [][]string{{"n1", "n2"}, {"n2", "n3"}, {"n4", "n5"}}, 2, `batch 2: "n2" is not next in the order`},
		{"a node left out", [][]string{{"n1", "n2"}, {"n3", "n4"}}, 2, "the batches hold 4 of the 5 ordered nodes"},
		{"a node beyond the order", [][]string{{"n1", "n2"}, {"n3", "n4"}, {"n5", "n6"}}, 2, `batch 3: "n6" is not next in the order`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckBatches(tc.batches, order, five, tc.maxParallel)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

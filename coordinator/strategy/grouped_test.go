package strategy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGroupedPlanOneGroupAtATime(t *testing.T) {
	nodes := []Node{
		node("a1", "10.0.1.1"), node("a2", "10.0.1.2"), node("a3", "10.0.1.3"), node("a4", "10.0.1.4"),
		node("b1", "10.0.2.1"), node("b2", "10.0.2.2", GroupLeaderLabel, "true"),
	}
	res, err := Plan(Grouped, Input{Nodes: nodes}, 2)
	require.NoError(t, err)
	require.Equal(t, [][]string{{"a2", "a3"}, {"a4"}, {"a1"}, {"b1"}, {"b2"}}, res.Batches)
	require.Equal(t, []Group{{"10.0.1.0/24", "a1", []string{"a2", "a3", "a4", "a1"}}, {"10.0.2.0/24", "b2", []string{"b1", "b2"}}}, res.Groups)
	require.Equal(t, "2 group(s) by subnet:24, 1 at a time; in each group the members first, then its leader", res.Reason)
}

func TestGroupedPlanSeveralGroupsAtOnce(t *testing.T) {
	nodes := []Node{
		node("a1", "", "site", "a"), node("a2", "", "site", "a"), node("a3", "", "site", "a"),
		node("b1", "", "site", "b"), node("b2", "", "site", "b"),
		node("c1", "", "site", "c"),
	}
	res, err := Plan(Grouped, Input{Nodes: nodes, GroupBy: "label:site", MaxGroups: 2}, 2)
	require.NoError(t, err)
	// c enters when b's leader is done; a's leader waits for a's members.
	require.Equal(t, [][]string{{"a2", "a3", "b2"}, {"a1", "b1"}, {"c1"}}, res.Batches)
}

func TestGroupedPlanKeepsTheQuorumBudgetAcrossGroups(t *testing.T) {
	var nodes []Node
	for _, g := range []string{"1", "2"} {
		for i := 1; i <= 3; i++ {
			n := node(fmt.Sprintf("g%sn%d", g, i), "10.0."+g+".1")
			n.Addr = fmt.Sprintf("10.0.%s.%d", g, i)
			n.Voter = true
			nodes = append(nodes, n)
		}
	}
	// Six voters: at most two down at once, whatever max-parallel and
	// max-groups allow.
	res, err := Plan(Grouped, Input{Nodes: nodes, MaxGroups: 2}, 3)
	require.NoError(t, err)
	require.Equal(t, [][]string{{"g1n2", "g1n3"}, {"g1n1", "g2n2"}, {"g2n3"}, {"g2n1"}}, res.Batches)
}

func TestGroupedRefusesBadInput(t *testing.T) {
	nodes := []Node{node("n1", "10.0.0.1"), node("n2", "host-b")}
	_, err := Plan(Grouped, Input{Nodes: nodes}, 1)
	require.ErrorContains(t, err, `grouped: member n2: its address "host-b" is not an IP address`)
	require.NotErrorIs(t, err, ErrBrokenStrategy, "bad input, not a broken strategy")
	_, err = Plan(Grouped, Input{Nodes: nodes, GroupBy: "subnet:200"}, 1)
	require.ErrorContains(t, err, `group-by "subnet:200"`)
	_, err = Plan(Grouped, Input{Nodes: nodes, GroupBy: "label:x", MaxGroups: -1}, 1)
	require.ErrorContains(t, err, "max-groups -1: must be at least 1")
}

// TestGroupedProperties checks the grouped schedule on random fleets:
// every member in exactly one batch; each group's leader in a batch after
// all its members; never more than max-groups groups in progress (from a
// group's first batch to its leader's); never more than max-parallel
// members of one group in a batch; the quorum budget in every batch; and
// the same answer in any node order.
func TestGroupedProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2026))
	for i := range 300 {
		size := 1 + rng.IntN(40)
		subnets := 1 + rng.IntN(6)
		var nodes []Node
		for j := range size {
			n := Node{ID: fmt.Sprintf("n%d", j), Voter: rng.IntN(5) == 0,
				Addr: fmt.Sprintf("10.%d.%d.%d", rng.IntN(subnets), rng.IntN(2), 1+rng.IntN(250))}
			if rng.IntN(8) == 0 {
				n.Labels = map[string]string{GroupLeaderLabel: "true"}
			}
			nodes = append(nodes, n)
		}
		maxParallel, groupsAtOnce := 1+rng.IntN(5), 1+rng.IntN(4)
		by := []string{"subnet:16", "subnet:24", "subnet:8"}[rng.IntN(3)]
		t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
			in := Input{Nodes: nodes, GroupBy: by, MaxGroups: groupsAtOnce}
			res, err := Plan(Grouped, in, maxParallel)
			require.NoError(t, err)

			batchOf := map[string]int{}
			for b, batch := range res.Batches {
				require.NotEmpty(t, batch)
				for _, id := range batch {
					_, dup := batchOf[id]
					require.False(t, dup, "%s twice", id)
					batchOf[id] = b
				}
			}
			require.Len(t, batchOf, len(nodes), "every member in a batch")

			voters := 0
			for _, n := range nodes {
				if n.Voter {
					voters++
				}
			}
			voter := map[string]bool{}
			for _, n := range nodes {
				voter[n.ID] = n.Voter
			}
			for b, batch := range res.Batches {
				count := 0
				for _, id := range batch {
					if voter[id] {
						count++
					}
				}
				require.LessOrEqual(t, count, QuorumBudget(voters), "batch %d voters", b)
			}

			var seen int
			first, last := make([]int, len(res.Groups)), make([]int, len(res.Groups))
			for g, group := range res.Groups {
				seen += len(group.Members)
				require.Equal(t, group.Leader, group.Members[len(group.Members)-1])
				lead := batchOf[group.Leader]
				first[g], last[g] = lead, lead
				perBatch := map[int]int{}
				for _, id := range group.Members {
					perBatch[batchOf[id]]++
					first[g] = min(first[g], batchOf[id])
					if id != group.Leader {
						require.Less(t, batchOf[id], lead, "group %s: member %s before its leader", group.Name, id)
					}
				}
				for b, c := range perBatch {
					require.LessOrEqual(t, c, maxParallel, "group %s in batch %d", group.Name, b)
				}
			}
			require.Equal(t, len(nodes), seen, "every member in exactly one group")
			for b := range res.Batches {
				inProgress := 0
				for g := range res.Groups {
					if first[g] <= b && b <= last[g] {
						inProgress++
					}
				}
				require.LessOrEqual(t, inProgress, groupsAtOnce, "batch %d", b)
				require.GreaterOrEqual(t, inProgress, 1)
			}

			shuffled := slices.Clone(nodes)
			rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			again, err := Plan(Grouped, Input{Nodes: shuffled, GroupBy: by, MaxGroups: groupsAtOnce}, maxParallel)
			require.NoError(t, err)
			require.Equal(t, res, again, "deterministic")
		})
	}
}

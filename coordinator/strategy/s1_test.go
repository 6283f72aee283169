package strategy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// orderOf returns the order the strategy name gives nodes with leader, as
// Plan computes it.
func orderOf(name string, nodes []Node, leader string) ([]string, error) {
	res, err := Plan(name, Input{Nodes: nodes, Leader: leader}, 1)
	if err != nil {
		return nil, err
	}
	return res.Order, nil
}

func voters(ids ...string) []Node {
	nodes := make([]Node, len(ids))
	for i, id := range ids {
		nodes[i] = Node{ID: id, Voter: true}
	}
	return nodes
}

func TestOrderTable(t *testing.T) {
	five := voters("n10", "n2", "n1", "n20", "n3") // natural order: n1 n2 n3 n10 n20
	cases := []struct {
		name     string
		strategy string
		nodes    []Node
		leader   string
		want     []string
	}{
		{"by-id one node", ByID, voters("a"), "a", []string{"a"}},
		{"secondaries-first one node", SecondariesFirst, voters("a"), "a", []string{"a"}},
		{"primary-first one node", PrimaryFirst, voters("a"), "a", []string{"a"}},
		{"by-id ignores leader", ByID, five, "n3", []string{"n1", "n2", "n3", "n10", "n20"}},
		{"secondaries-first leader first", SecondariesFirst, five, "n1", []string{"n2", "n3", "n10", "n20", "n1"}},
		{"secondaries-first leader middle", SecondariesFirst, five, "n3", []string{"n1", "n2", "n10", "n20", "n3"}},
		{"secondaries-first leader last", SecondariesFirst, five, "n20", []string{"n1", "n2", "n3", "n10", "n20"}},
		{"secondaries-first no leader", SecondariesFirst, five, "", []string{"n1", "n2", "n3", "n10", "n20"}},
		{"secondaries-first unknown leader", SecondariesFirst, five, "n4", []string{"n1", "n2", "n3", "n10", "n20"}},
		{"primary-first leader first", PrimaryFirst, five, "n1", []string{"n1", "n2", "n3", "n10", "n20"}},
		{"primary-first leader middle", PrimaryFirst, five, "n3", []string{"n3", "n1", "n2", "n10", "n20"}},
		{"primary-first leader last", PrimaryFirst, five, "n20", []string{"n20", "n1", "n2", "n3", "n10"}},
		{"primary-first no leader", PrimaryFirst, five, "", []string{"n1", "n2", "n3", "n10", "n20"}},
		{"primary-first unknown leader", PrimaryFirst, five, "x", []string{"n1", "n2", "n3", "n10", "n20"}},
		{"empty cluster", SecondariesFirst, nil, "n1", []string{}},
		{"non-voters are ordered too", SecondariesFirst,
			[]Node{{ID: "w2"}, {ID: "v1", Voter: true}, {ID: "w1"}}, "v1", []string{"w1", "w2", "v1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.nodes)
			got, err := orderOf(tc.strategy, tc.nodes, tc.leader)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, before, tc.nodes, "Order must not mutate its input")
		})
	}
}

// TestOrderEveryStrategyAndLeaderPosition runs every strategy on clusters of
// 1, 2, 3, 5 and 7 nodes with the leader first, in the middle, last and
// absent (both empty and unknown).
func TestOrderEveryStrategyAndLeaderPosition(t *testing.T) {
	natural := []string{"n1", "n2", "n9", "n10", "n11", "n20", "n100"}
	for _, size := range []int{1, 2, 3, 5, 7} {
		sorted := natural[:size]
		input := slices.Clone(sorted)
		slices.Reverse(input) // the input order must not matter
		nodes := voters(input...)
		leaders := []struct{ position, id string }{
			{"first", sorted[0]}, {"middle", sorted[size/2]}, {"last", sorted[size-1]},
			{"empty", ""}, {"unknown", "n3"},
		}
		for _, l := range leaders {
			position, leader := l.position, l.id
			present := leader != "" && slices.Contains(sorted, leader)
			rest := slices.DeleteFunc(slices.Clone(sorted), func(id string) bool { return id == leader })
			want := map[string][]string{ByID: sorted, SecondariesFirst: sorted, PrimaryFirst: sorted}
			if present {
				want[SecondariesFirst] = append(slices.Clone(rest), leader)
				want[PrimaryFirst] = append([]string{leader}, rest...)
			}
			for _, name := range []string{ByID, SecondariesFirst, PrimaryFirst} {
				t.Run(fmt.Sprintf("%d nodes/leader %s/%s", size, position, name), func(t *testing.T) {
					got, err := orderOf(name, nodes, leader)
					require.NoError(t, err)
					require.Equal(t, want[name], got)
				})
			}
		}
	}
}

func TestReasonSaysWhichRuleOrdered(t *testing.T) {
	three := voters("n1", "n2", "n3")
	cases := []struct {
		strategy, leader, want string
	}{
		{ByID, "n2", "natural id order (n2 before n10)"},
		{ByID, "", "natural id order (n2 before n10)"},
		{SecondariesFirst, "n2", "primary = Baton's Raft leader n2 (no role hooks), upgraded last; the others first, in natural id order"},
		{SecondariesFirst, "", "no primary known (no Raft leader, no role hooks): natural id order"},
		{SecondariesFirst, "n9", "no primary known (the Raft leader n9 is not a member, no role hooks): natural id order"},
		{PrimaryFirst, "n2", "primary = Baton's Raft leader n2 (no role hooks), upgraded first; then the others, in natural id order"},
		{PrimaryFirst, "", "no primary known (no Raft leader, no role hooks): natural id order"},
		{PrimaryFirst, "n9", "no primary known (the Raft leader n9 is not a member, no role hooks): natural id order"},
	}
	for _, tc := range cases {
		t.Run(tc.strategy+"/leader "+tc.leader, func(t *testing.T) {
			res, err := Plan(tc.strategy, Input{Nodes: three, Leader: tc.leader}, 1)
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Reason)
		})
	}
}

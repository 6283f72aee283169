package strategy

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNamesAreStableAndValid(t *testing.T) {
	require.Equal(t, []string{"by-id", "secondaries-first", "primary-first"}, Names())
	for _, name := range Names() {
		require.NoError(t, Validate(name))
	}
	names := Names()
	names[0] = "changed"
	require.Equal(t, ByID, Names()[0], "Names must return a fresh slice")
}

func TestValidateNamesBadValueAndListsValidOnes(t *testing.T) {
	for _, bad := range []string{"", "ring", "BY-ID", "by_id", " by-id"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			err := Validate(bad)
			require.ErrorIs(t, err, ErrUnknownStrategy)
			require.EqualError(t, err, fmt.Sprintf(
				"unknown strategy %q: valid strategies are by-id, secondaries-first, primary-first", bad))
		})
	}
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
			got, err := Order(tc.strategy, tc.nodes, tc.leader)
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
			for _, name := range Names() {
				t.Run(fmt.Sprintf("%d nodes/leader %s/%s", size, position, name), func(t *testing.T) {
					got, err := Order(name, nodes, leader)
					require.NoError(t, err)
					require.Equal(t, want[name], got)
				})
			}
		}
	}
}

func TestOrderErrors(t *testing.T) {
	cases := []struct {
		name     string
		strategy string
		nodes    []Node
		wantErr  error
		wantText string
	}{
		{"unknown strategy", "ring", voters("n1"), ErrUnknownStrategy,
			`unknown strategy "ring": valid strategies are by-id, secondaries-first, primary-first`},
		{"duplicate id", ByID, voters("n1", "n2", "n1"), ErrInvalidNodes,
			`invalid nodes: node ID "n1" appears twice`},
		{"empty id", PrimaryFirst, voters("n1", ""), ErrInvalidNodes,
			`invalid nodes: node 1 has an empty ID`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Order(tc.strategy, tc.nodes, "n1")
			require.Nil(t, got)
			require.True(t, errors.Is(err, tc.wantErr), "got %v", err)
			require.EqualError(t, err, tc.wantText)
		})
	}
}

func TestCompareIDPairs(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"n1", "n2", -1},
		{"n2", "n10", -1},
		{"n10", "n9", 1},
		{"n10", "n10", 0},
		{"", "", 0},
		{"", "n1", -1},
		{"n", "n1", -1},
		{"n01", "n1", -1}, // numerically equal runs: plain string order decides
		{"n1", "n01", 1},
		{"n1a", "n01b", -1}, // runs decide ("a" < "b") before the plain-string tie break
		{"a10b2", "a10b10", -1},
		{"node-2", "node-10", -1},
		{"2", "10", -1},
		{"10", "a", -1}, // '1' < 'a'
		{"-1", "1", -1}, // '-' < '1'
		{"n99999999999999999999999", "n100000000000000000000000", -1},
		{"n000", "n0", 1}, // equal numbers; "n0" is a prefix of "n000"
		{"rack2-n10", "rack10-n1", -1},
		{"rack2-n10", "rack2-n9", 1},
		{"Z1", "a1", -1}, // byte order: upper case first
	}
	for _, tc := range cases {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			require.Equal(t, tc.want, CompareID(tc.a, tc.b))
			require.Equal(t, -tc.want, CompareID(tc.b, tc.a))
			require.Equal(t, tc.want < 0, LessID(tc.a, tc.b))
		})
	}
}

func TestCompareIDSortsMixedNames(t *testing.T) {
	ids := []string{"n10", "node-10", "n2", "db1", "n1", "n02", "n", "10", "9", "node-2"}
	slices.SortFunc(ids, CompareID)
	require.Equal(t, []string{"9", "10", "db1", "n", "n1", "n02", "n2", "n10", "node-2", "node-10"}, ids)
}

package strategy

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlanErrors(t *testing.T) {
	cases := []struct {
		name     string
		strategy string
		nodes    []Node
		wantErr  error
		wantText string
	}{
		{"unknown strategy", "zigzag", voters("n1"), ErrUnknownStrategy,
			`unknown strategy "zigzag": valid strategies are by-id, secondaries-first, primary-first, ring, grouped`},
		{"duplicate id", ByID, voters("n1", "n2", "n1"), ErrInvalidNodes,
			`invalid nodes: node ID "n1" appears twice`},
		{"empty id", PrimaryFirst, voters("n1", ""), ErrInvalidNodes,
			`invalid nodes: node 1 has an empty ID`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := orderOf(tc.strategy, tc.nodes, "n1")
			require.Nil(t, got)
			require.True(t, errors.Is(err, tc.wantErr), "got %v", err)
			require.EqualError(t, err, tc.wantText)
		})
	}
}

func TestPlanRefusesMaxParallelBelowOne(t *testing.T) {
	for _, mp := range []int{0, -3} {
		_, err := Plan(ByID, Input{Nodes: voters("n1", "n2")}, mp)
		require.EqualError(t, err, fmt.Sprintf("max-parallel %d: must be at least 1", mp))
		require.NotErrorIs(t, err, ErrBrokenStrategy)
	}
}

// broken is a strategy whose answer is changed by its fields, to check
// that Plan refuses every way of breaking the contract.
type broken struct {
	order   func([]string) []string
	batches func([][]string) [][]string
	err     error
}

func (broken) Name() string    { return "broken" }
func (broken) Summary() string { return "breaks its contract" }

func (b broken) Order(in Input) ([]string, string, error) {
	if b.err != nil {
		return nil, "", b.err
	}
	order := sortedIDs(in.Nodes)
	if b.order != nil {
		order = b.order(order)
	}
	return order, "on purpose", nil
}

func (b broken) Batches(order []string, in Input, maxParallel int) ([][]string, error) {
	batches, err := CutBatches(order, in.Nodes, maxParallel, nil)
	if err == nil && b.batches != nil {
		batches = b.batches(batches)
	}
	return batches, err
}

func TestPlanRefusesABrokenStrategy(t *testing.T) {
	five := voters("n1", "n2", "n3", "n4", "n5") // quorum budget 2
	cases := []struct {
		name string
		s    broken
		want string
	}{
		{"a node left out", broken{order: func(o []string) []string { return o[1:] }},
			"strategy broke its contract: broken: order: 4 nodes ordered, want 5"},
		{"a node twice", broken{order: func(o []string) []string { o[4] = o[0]; return o }},
			`strategy broke its contract: broken: order: "n1" appears twice`},
		{"a stranger", broken{order: func(o []string) []string { o[4] = "n9"; return o }},
			`strategy broke its contract: broken: order: "n9" is not a node`},
		{"batches out of order", broken{batches: func(b [][]string) [][]string { b[0], b[1] = b[1], b[0]; return b }},
			`strategy broke its contract: broken: batches: batch 1: "n3" is not next in the order`},
		{"a batch dropped", broken{batches: func(b [][]string) [][]string { return b[:2] }},
			"strategy broke its contract: broken: batches: the batches hold 4 of the 5 ordered nodes"},
		{"over max-parallel", broken{batches: func(b [][]string) [][]string { return [][]string{slices.Concat(b...)} }},
			"strategy broke its contract: broken: batches: batch 1 holds 5 nodes, max-parallel is 2"},
		{"an empty batch", broken{batches: func(b [][]string) [][]string { return append([][]string{{}}, b...) }},
			"strategy broke its contract: broken: batches: batch 1 is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planWith(tc.s, Input{Nodes: five, Leader: "n1"}, 2)
			require.ErrorIs(t, err, ErrBrokenStrategy)
			require.EqualError(t, err, tc.want)
		})
	}

	t.Run("over the quorum budget", func(t *testing.T) {
		s := broken{batches: func(b [][]string) [][]string { return [][]string{{"n1", "n2", "n3"}, {"n4", "n5"}} }}
		_, err := planWith(s, Input{Nodes: five}, 3)
		require.ErrorIs(t, err, ErrBrokenStrategy)
		require.EqualError(t, err, "strategy broke its contract: broken: batches: batch 1 holds 3 voters, the quorum budget is 2")
	})

	t.Run("its own refusal is bad input", func(t *testing.T) {
		refusal := errors.New("label zone missing on n3")
		_, err := planWith(broken{err: refusal}, Input{Nodes: five}, 2)
		require.ErrorIs(t, err, refusal)
		require.NotErrorIs(t, err, ErrBrokenStrategy)
		require.EqualError(t, err, "broken: label zone missing on n3")
	})
}

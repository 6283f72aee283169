package coordinator

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// ready is a voter that passes every check, at the leader's index 100.
func ready(id string, idleCPU, idleMem float64) Probe {
	return Probe{ID: id, Voter: true, Reachable: true, Healthy: true, AppliedIndex: 100, IdleCPU: idleCPU, IdleMem: idleMem}
}

func with(p Probe, change func(*Probe)) Probe {
	change(&p)
	return p
}

func TestIdleWeight(t *testing.T) {
	p := Probe{IdleCPU: 0.4, IdleMem: 0.8}
	require.InDelta(t, 0.6, DefaultIdleWeights.IdleWeight(p), 1e-12)
	require.InDelta(t, 0.4, IdleWeights{CPU: 1}.IdleWeight(p), 1e-12)
	require.InDelta(t, 0.8, IdleWeights{Mem: 1}.IdleWeight(p), 1e-12)
	require.InDelta(t, 0.28, IdleWeights{CPU: 0.3, Mem: 0.2}.IdleWeight(p), 1e-12)
}

func TestChooseSuccessor(t *testing.T) {
	const leaderIndex, maxLag = 100, 5
	cases := []struct {
		name       string
		probes     []Probe
		exclude    []string
		maxLag     uint64
		weights    IdleWeights
		want       string
		wantOK     bool
		rejections []Rejection
	}{
		{
			name: "each rejection reason",
			probes: []Probe{
				ready("n1", 0.9, 0.9), // the leader
				ready("n2", 0.9, 0.9), // in the batch with the leader
				with(ready("n3", 0.9, 0.9), func(p *Probe) { p.Voter = false }),
				with(ready("n4", 0.9, 0.9), func(p *Probe) { p.Reachable = false }),
				with(ready("n5", 0.9, 0.9), func(p *Probe) { p.Healthy = false }),
				with(ready("n6", 0.9, 0.9), func(p *Probe) { p.AppliedIndex = 88 }),
				ready("n7", 0.1, 0.1),
			},
			exclude: []string{"n1", "n2"},
			maxLag:  maxLag, weights: DefaultIdleWeights,
			want: "n7", wantOK: true,
			rejections: []Rejection{
				{"n1", "in the upgrading batch"},
				{"n2", "in the upgrading batch"},
				{"n3", "not a voter"},
				{"n4", "unreachable"},
				{"n5", "health check failing"},
				{"n6", "log behind by 12 entries (max 5)"},
			},
		},
		{
			name: "first failing check is reported",
			probes: []Probe{
				{ID: "n1", Voter: false},
				{ID: "n2", Voter: true},
				{ID: "n3", Voter: true, Reachable: true, AppliedIndex: 0},
				{ID: "n4", Voter: true},
			},
			exclude: []string{"n4"},
			maxLag:  maxLag, weights: DefaultIdleWeights,
			rejections: []Rejection{
				{"n1", "not a voter"},
				{"n2", "unreachable"},
				{"n3", "health check failing"},
				{"n4", "in the upgrading batch"},
			},
		},
		{
			name: "upgraded preferred over idler",
			probes: []Probe{
				ready("n2", 0.9, 0.9),
				with(ready("n3", 0.1, 0.1), func(p *Probe) { p.Upgraded = true }),
				ready("n4", 1, 1),
			},
			maxLag: maxLag, weights: DefaultIdleWeights,
			want: "n3", wantOK: true,
			rejections: []Rejection{{"n2", "qualified, but n3 preferred"}, {"n4", "qualified, but n3 preferred"}},
		},
		{
			name: "idle weight breaks the tie among upgraded",
			probes: []Probe{
				with(ready("n2", 0.2, 0.2), func(p *Probe) { p.Upgraded = true }),
				with(ready("n3", 0.6, 0.4), func(p *Probe) { p.Upgraded = true }),
				ready("n4", 1, 1),
			},
			maxLag: maxLag, weights: DefaultIdleWeights,
			want: "n3", wantOK: true,
			rejections: []Rejection{{"n2", "qualified, but n3 preferred"}, {"n4", "qualified, but n3 preferred"}},
		},
		{
			name:   "idle weight breaks the tie among not upgraded",
			probes: []Probe{ready("n2", 0.2, 0.3), ready("n3", 0.4, 0.1), ready("n4", 0.3, 0.3)},
			maxLag: maxLag, weights: DefaultIdleWeights,
			want: "n4", wantOK: true,
			rejections: []Rejection{{"n2", "qualified, but n4 preferred"}, {"n3", "qualified, but n4 preferred"}},
		},
		{
			name:   "equal weight: lowest ID in natural order",
			probes: []Probe{ready("n10", 0.5, 0.5), ready("n9", 0.5, 0.5), ready("n11", 0.5, 0.5)},
			maxLag: maxLag, weights: DefaultIdleWeights,
			want: "n9", wantOK: true,
			rejections: []Rejection{{"n10", "qualified, but n9 preferred"}, {"n11", "qualified, but n9 preferred"}},
		},
		{
			name: "all rejected",
			probes: []Probe{
				ready("n1", 1, 1),
				with(ready("n2", 1, 1), func(p *Probe) { p.Healthy = false }),
				with(ready("n3", 1, 1), func(p *Probe) { p.AppliedIndex = 94 }),
			},
			exclude: []string{"n1"},
			maxLag:  maxLag, weights: DefaultIdleWeights,
			rejections: []Rejection{
				{"n1", "in the upgrading batch"},
				{"n2", "health check failing"},
				{"n3", "log behind by 6 entries (max 5)"},
			},
		},
		{
			name:   "no probes",
			maxLag: maxLag, weights: DefaultIdleWeights,
		},
		{
			name: "lag exactly maxLag qualifies, maxLag+1 does not",
			probes: []Probe{
				with(ready("n2", 1, 1), func(p *Probe) { p.AppliedIndex = leaderIndex - maxLag - 1 }),
				with(ready("n3", 0, 0), func(p *Probe) { p.AppliedIndex = leaderIndex - maxLag }),
			},
			maxLag: maxLag, weights: DefaultIdleWeights,
			want: "n3", wantOK: true,
			rejections: []Rejection{{"n2", "log behind by 6 entries (max 5)"}},
		},
		{
			name: "max lag zero needs a caught-up log; ahead counts as caught up",
			probes: []Probe{
				with(ready("n2", 1, 1), func(p *Probe) { p.AppliedIndex = leaderIndex - 1 }),
				with(ready("n3", 0, 0), func(p *Probe) { p.AppliedIndex = leaderIndex + 3 }),
			},
			maxLag: 0, weights: DefaultIdleWeights,
			want: "n3", wantOK: true,
			rejections: []Rejection{{"n2", "log behind by 1 entries (max 0)"}},
		},
		{
			name:   "custom weights: CPU only",
			probes: []Probe{ready("n2", 0.1, 0.9), ready("n3", 0.9, 0.1)},
			maxLag: maxLag, weights: IdleWeights{CPU: 1, Mem: 0},
			want: "n3", wantOK: true,
			rejections: []Rejection{{"n2", "qualified, but n3 preferred"}},
		},
		{
			name:   "custom weights: memory only",
			probes: []Probe{ready("n2", 0.1, 0.9), ready("n3", 0.9, 0.1)},
			maxLag: maxLag, weights: IdleWeights{CPU: 0, Mem: 1},
			want: "n2", wantOK: true,
			rejections: []Rejection{{"n3", "qualified, but n2 preferred"}},
		},
		{
			name:   "custom weights: memory dominates",
			probes: []Probe{ready("n2", 0.8, 0.2), ready("n3", 0.2, 0.4)},
			maxLag: maxLag, weights: IdleWeights{CPU: 0.1, Mem: 0.9},
			want: "n3", wantOK: true,
			rejections: []Rejection{{"n2", "qualified, but n3 preferred"}},
		},
		{
			name:   "a garbled (NaN) idle share ranks last",
			probes: []Probe{ready("n1", math.NaN(), 1), ready("n2", 0, 0)},
			maxLag: maxLag, weights: DefaultIdleWeights,
			want: "n2", wantOK: true,
			rejections: []Rejection{{"n1", "qualified, but n2 preferred"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			probesBefore := slices.Clone(tc.probes)
			got, ok, rejections := ChooseSuccessor(tc.probes, tc.exclude, leaderIndex, tc.maxLag, tc.weights)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.rejections, rejections)
			listed := len(tc.probes)
			if ok {
				listed--
			}
			require.Len(t, rejections, listed, "every probe not chosen must be listed")
			// Compared as text because NaN != NaN.
			require.Equal(t, fmt.Sprint(probesBefore), fmt.Sprint(tc.probes), "ChooseSuccessor must not mutate probes")

			// The answer depends on the probes, not on their order.
			reversed := slices.Clone(tc.probes)
			slices.Reverse(reversed)
			got2, ok2, rejections2 := ChooseSuccessor(reversed, tc.exclude, leaderIndex, tc.maxLag, tc.weights)
			require.Equal(t, got, got2)
			require.Equal(t, ok, ok2)
			require.Equal(t, rejections, rejections2)
		})
	}
}

package coordinator

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChooseActing(t *testing.T) {
	w := DefaultIdleWeights
	cand := func(id string, cpu, mem float64) ActingCandidate {
		return ActingCandidate{ID: id, Reachable: true, IdleCPU: cpu, IdleMem: mem}
	}
	unreachable := func(c ActingCandidate) ActingCandidate { c.Reachable = false; return c }
	upgrading := func(c ActingCandidate) ActingCandidate { c.Upgrading = true; return c }
	cases := []struct {
		name       string
		leader     string
		candidates []ActingCandidate
		weights    IdleWeights
		want       string
		rejections []Rejection
	}{
		{"the highest idle weight", "n1", []ActingCandidate{cand("n2", 0.2, 0.2), cand("n3", 0.9, 0.5), cand("n4", 0.5, 0.5)}, w,
			"n3", []Rejection{{"n2", "idle weight 0.200, n3 has 0.700"}, {"n4", "idle weight 0.500, n3 has 0.700"}}},
		{"ties break by natural id", "n1", []ActingCandidate{cand("n10", 0.5, 0.5), cand("n9", 0.5, 0.5)}, w,
			"n9", []Rejection{{"n10", "idle weight 0.500, n9 has 0.500"}}},
		{"the weights decide: memory only", "n1", []ActingCandidate{cand("n2", 0.9, 0.1), cand("n3", 0.1, 0.8)}, IdleWeights{Mem: 1},
			"n3", []Rejection{{"n2", "idle weight 0.100, n3 has 0.800"}}},
		{"unreachable and upgrading members do not act", "n1",
			[]ActingCandidate{unreachable(cand("n2", 1, 1)), upgrading(cand("n3", 1, 1)), cand("n4", 0, 0)}, w,
			"n4", []Rejection{{"n2", "unreachable"}, {"n3", "upgrading"}}},
		{"the leader never acts for itself", "n1", []ActingCandidate{cand("n1", 1, 1), cand("n2", 0, 0)}, w,
			"n2", []Rejection{{"n1", "the group's leader"}}},
		{"a NaN weight ranks last", "n1", []ActingCandidate{cand("n2", math.NaN(), 1), cand("n3", 0, 0)}, w,
			"n3", []Rejection{{"n2", "idle weight -Inf, n3 has 0.000"}}},
		{"nobody qualifies", "n1", []ActingCandidate{unreachable(cand("n2", 1, 1))}, w,
			"", []Rejection{{"n2", "unreachable"}}},
		{"a group of one", "n1", nil, w, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok, rejections := ChooseActing(c.leader, c.candidates, c.weights)
			require.Equal(t, c.want, got)
			require.Equal(t, c.want != "", ok)
			require.Equal(t, c.rejections, rejections)
		})
	}
}

// TestChooseActingIgnoresInputOrder: the same candidates in any order give
// the same answer, and the answer is qualified with no qualified candidate
// of a higher weight.
func TestChooseActingIgnoresInputOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 4))
	for range 300 {
		var cs []ActingCandidate
		for i := range 1 + rng.IntN(8) {
			cs = append(cs, ActingCandidate{ID: "n" + string(rune('a'+i)), Reachable: rng.IntN(4) != 0, Upgrading: rng.IntN(5) == 0,
				IdleCPU: float64(rng.IntN(4)) / 4, IdleMem: float64(rng.IntN(4)) / 4})
		}
		chosen, ok, _ := ChooseActing("leader", cs, DefaultIdleWeights)
		shuffled := slices.Clone(cs)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		again, _, _ := ChooseActing("leader", shuffled, DefaultIdleWeights)
		require.Equal(t, chosen, again)
		if !ok {
			for _, c := range cs {
				require.False(t, c.Reachable && !c.Upgrading, "%s qualified but none was chosen", c.ID)
			}
			continue
		}
		i := slices.IndexFunc(cs, func(c ActingCandidate) bool { return c.ID == chosen })
		best := DefaultIdleWeights.IdleWeight(Probe{IdleCPU: cs[i].IdleCPU, IdleMem: cs[i].IdleMem})
		for _, c := range cs {
			if c.Reachable && !c.Upgrading {
				require.LessOrEqual(t, DefaultIdleWeights.IdleWeight(Probe{IdleCPU: c.IdleCPU, IdleMem: c.IdleMem}), best)
			}
		}
	}
}

package coordinator

import (
	"slices"
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// replica is a candidate that passes every check once probed: a reachable
// replica with every hook, healthy, with lag 0, of idle weight w.
func replica(id string, w float64) Replica {
	zero := uint64(0)
	return Replica{ID: id, Reachable: true, Hooks: []string{api.HookRole, api.HookPromote, api.HookFollow, api.HookLag},
		IdleCPU: w, IdleMem: w, Role: api.RoleReplica, Healthy: true, Lag: &zero}
}

func withReplica(r Replica, change func(*Replica)) Replica {
	change(&r)
	return r
}

func lagOf(n uint64) func(*Replica) { return func(r *Replica) { r.Lag = &n } }

func TestChooseCandidate(t *testing.T) {
	const maxLag = 10
	cases := []struct {
		name       string
		replicas   []Replica
		want       string
		wantOK     bool
		probed     []string
		rejections []Rejection
	}{
		{
			name: "each refusal, in the order of the checks",
			replicas: []Replica{
				withReplica(replica("n1", 0.9), func(r *Replica) { r.InBatch = true }),
				withReplica(replica("n2", 0.9), func(r *Replica) { r.Reachable = false }),
				withReplica(replica("n3", 0.9), func(r *Replica) { r.Hooks = []string{api.HookRole, api.HookPromote} }),
				withReplica(replica("n4", 0.9), func(r *Replica) { r.Hooks = []string{api.HookLag} }),
				withReplica(replica("n5", 0.9), func(r *Replica) { r.ProbeError = "connection refused" }),
				withReplica(replica("n6", 0.9), func(r *Replica) { r.RoleError = "hook role exited 1" }),
				withReplica(replica("n7", 0.9), func(r *Replica) { r.Role = api.RolePrimary }),
				withReplica(replica("n8", 0.9), func(r *Replica) { r.Healthy, r.HealthError = false, "hook health exited 1: down" }),
				withReplica(replica("n9", 0.9), func(r *Replica) { r.Lag, r.LagError = nil, "hook lag timed out after 10s" }),
				withReplica(replica("n10", 0.9), lagOf(11)),
				withReplica(replica("n11", 0.1), lagOf(10)),
			},
			want: "n11", wantOK: true,
			probed: []string{"n5", "n6", "n7", "n8", "n9", "n10", "n11"},
			rejections: []Rejection{
				{"n1", "in the upgrading batch"},
				{"n2", "unreachable"},
				{"n3", "no lag hook"},
				{"n4", "no role hook"},
				{"n5", "unreachable: connection refused"},
				{"n6", "role unknown: hook role exited 1"},
				{"n7", "its role hook says primary too"},
				{"n8", "health check failing: hook health exited 1: down"},
				{"n9", "lag unknown: hook lag timed out after 10s"},
				{"n10", "lag 11 over --max-lag 10"},
			},
		},
		{
			name: "upgraded first, then idle weight, then natural id; probing stops at the first that qualifies",
			replicas: []Replica{
				replica("n10", 0.5),
				replica("n2", 0.5),
				replica("n3", 0.9),
				withReplica(replica("n4", 0.1), func(r *Replica) { r.Upgraded = true; *r = withReplica(*r, lagOf(50)) }),
			},
			want: "n3", wantOK: true,
			probed: []string{"n4", "n3"},
			rejections: []Rejection{
				{"n2", "not probed: n3 qualified first"},
				{"n4", "lag 50 over --max-lag 10"},
				{"n10", "not probed: n3 qualified first"},
			},
		},
		{
			name:     "equal weights: the lower id in natural order",
			replicas: []Replica{replica("n10", 0.5), replica("n2", 0.5)},
			want:     "n2", wantOK: true,
			probed:     []string{"n2"},
			rejections: []Rejection{{"n10", "not probed: n2 qualified first"}},
		},
		{
			name: "none qualifies: every one is named with its reason",
			replicas: []Replica{
				withReplica(replica("n1", 0.5), lagOf(120)),
				withReplica(replica("n3", 0.5), func(r *Replica) { r.Healthy, r.HealthError = false, "refused" }),
				withReplica(replica("n4", 0.5), func(r *Replica) { r.InBatch = true }),
			},
			probed: []string{"n1", "n3"},
			rejections: []Rejection{
				{"n1", "lag 120 over --max-lag 10"},
				{"n3", "health check failing: refused"},
				{"n4", "in the upgrading batch"},
			},
		},
		{name: "no replicas at all"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, replicas := range [][]Replica{tc.replicas, reversed(tc.replicas)} {
				var probed []string
				probe := func(r Replica) Replica {
					probed = append(probed, r.ID)
					r.Probed = true
					return r
				}
				chosen, ok, rejections := ChooseCandidate(replicas, maxLag, DefaultIdleWeights, probe)
				require.Equal(t, tc.wantOK, ok)
				require.Equal(t, tc.want, chosen.ID)
				require.Equal(t, tc.probed, probed, "probed in turn, in the documented order")
				require.Equal(t, tc.rejections, rejections)
				if ok {
					require.Empty(t, Refusal(chosen, maxLag), "the chosen one passes every check")
				}
			}
		})
	}
}

func reversed(rs []Replica) []Replica {
	out := slices.Clone(rs)
	slices.Reverse(out)
	return out
}

func TestRefusalNeedsAProbe(t *testing.T) {
	r := replica("n1", 0.5)
	require.Equal(t, "not probed", Refusal(r, 0), "nothing qualifies without its hooks having run")
	r.Probed = true
	require.Empty(t, Refusal(r, 0))
	require.Equal(t, `role ""`, Refusal(withReplica(r, func(r *Replica) { r.Role = "" }), 0))
}

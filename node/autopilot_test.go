package node

import (
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestChoosePromotion(t *testing.T) {
	voter := func(id string) api.RaftServer {
		return api.RaftServer{ID: id, Suffrage: api.SuffrageVoter, Status: api.MemberAlive, Reachable: true, RaftState: "Follower", LastContact: "20ms", Lag: lagOf(0)}
	}
	nonvoter := func(id string, lag uint64, edit ...func(*api.RaftServer)) api.RaftServer {
		s := api.RaftServer{ID: id, Address: "addr-" + id, Suffrage: api.SuffrageNonvoter, Status: api.MemberAlive, Reachable: true,
			RaftState: "Follower", LastContact: "20ms", Lag: lagOf(lag)}
		for _, e := range edit {
			e(&s)
		}
		return s
	}
	report := func(servers ...api.RaftServer) api.RaftReport {
		rep := api.RaftReport{Leader: "n1", Servers: servers}
		for _, s := range servers {
			if s.Suffrage == api.SuffrageVoter {
				rep.Voters++
			}
		}
		return rep
	}
	cases := []struct {
		name string
		rep  api.RaftReport
		max  int
		want string
		why  string
		busy []string
	}{
		{name: "five voters: nothing to do", max: 5,
			rep: report(voter("n1"), voter("n2"), voter("n3"), voter("n4"), voter("n5"), nonvoter("n6", 0))},
		{name: "four voters and a caught-up non-voter", max: 5,
			rep:  report(voter("n1"), voter("n2"), voter("n3"), voter("n4"), nonvoter("n6", 0)),
			want: "n6"},
		{name: "the least lagging, then the lowest id", max: 5,
			rep:  report(voter("n1"), voter("n2"), nonvoter("n9", 3), nonvoter("n7", 1), nonvoter("n8", 1)),
			want: "n7"},
		{name: "a lagging non-voter waits", max: 5,
			rep: report(voter("n1"), voter("n2"), nonvoter("n6", 500)),
			why: "n6: lags 500 entries behind the leader (at most 64)"},
		{name: "an unreachable non-voter is not promoted", max: 5,
			rep: report(voter("n1"), voter("n2"), nonvoter("n6", 0, func(s *api.RaftServer) { s.Status = api.MemberUnreachable })),
			why: "n6: unreachable per the leader's heartbeats"},
		{name: "a non-voter whose API does not answer", max: 5,
			rep: report(voter("n1"), voter("n2"), nonvoter("n6", 0, func(s *api.RaftServer) { s.Reachable, s.Lag, s.Error = false, nil, "refused" })),
			why: "n6: did not answer: refused"},
		{name: "a non-voter that has not heard from the leader lately", max: 5,
			rep: report(voter("n1"), voter("n2"), nonvoter("n6", 0, func(s *api.RaftServer) { s.LastContact = "9s" })),
			why: "n6: last heard from the leader 9s ago"},
		{name: "a non-voter in the middle of its upgrade step waits", max: 5,
			rep: report(voter("n1"), voter("n2"), nonvoter("n6", 0), nonvoter("n7", 2)), busy: []string{"n6"},
			want: "n7"},
		{name: "a smaller MaxVoters is kept", max: 3,
			rep: report(voter("n1"), voter("n2"), voter("n3"), nonvoter("n6", 0))},
		{name: "no leader, no promotion", max: 5,
			rep: api.RaftReport{Servers: []api.RaftServer{voter("n1"), nonvoter("n6", 0)}, Voters: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			busy := map[string]bool{}
			for _, id := range tc.busy {
				busy[id] = true
			}
			got, why := choosePromotion(tc.rep, tc.max, busy)
			require.Equal(t, tc.want, got.ID)
			require.Equal(t, tc.why, why)
		})
	}
}

func lagOf(n uint64) *uint64 { return &n }

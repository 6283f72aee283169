package node

import (
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestRemovalVerdict(t *testing.T) {
	report := func(leader string, servers ...api.RaftServer) api.RaftReport {
		return api.RaftReport{Observer: leader, Leader: leader, Servers: servers}
	}
	srv := func(id, addr string) api.RaftServer { return api.RaftServer{ID: id, Address: addr} }
	const addr, prior = "127.0.0.1:7003", "127.0.0.1:6003"
	cases := []struct {
		name    string
		rep     api.RaftReport
		prior   string
		removed bool
		why     string
	}{
		{name: "still a member", rep: report("n1", srv("n1", "127.0.0.1:7001"), srv("n3", addr))},
		{name: "a peer without a leader cannot tell", rep: report("", srv("n1", "127.0.0.1:7001"))},
		{name: "a move to the new address is pending", prior: prior, rep: report("n1", srv("n1", "127.0.0.1:7001"), srv("n3", prior))},
		{name: "gone from the leader's configuration", rep: report("n1", srv("n1", "127.0.0.1:7001")),
			removed: true, why: "this agent (n3) was removed from the cluster by the leader n1 (its raft configuration no longer lists n3)"},
		{name: "replaced under its id", rep: report("n1", srv("n1", "127.0.0.1:7001"), srv("n3", "127.0.0.1:9003")),
			removed: true, why: "this agent (n3) was removed from the cluster and replaced: the leader n1's raft configuration has n3 at raft address 127.0.0.1:9003"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			own := []string{addr}
			if tc.prior != "" {
				own = append(own, tc.prior)
			}
			removed, why := removalVerdict(tc.rep, "n3", own...)
			require.Equal(t, tc.removed, removed)
			require.Equal(t, tc.why, why)
		})
	}
}

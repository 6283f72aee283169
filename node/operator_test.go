package node

import (
	"strings"
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// servers builds a report's servers from "id:suffrage:reachable[:leaderSeen]"
// descriptions, such as "n1:v:up" or "n4:n:down".
func servers(descs ...string) []api.RaftServer {
	var out []api.RaftServer
	for _, d := range descs {
		parts := append(strings.SplitN(d, ":", 4), "")
		id, suffrage, reach, seen := parts[0], parts[1], parts[2], parts[3]
		s := api.RaftServer{ID: id, Address: "127.0.0.1:1", Suffrage: api.SuffrageVoter, Reachable: reach == "up", LeaderSeen: seen}
		if suffrage == "n" {
			s.Suffrage = api.SuffrageNonvoter
		}
		out = append(out, s)
	}
	return out
}

func TestDiagnoseNoLeader(t *testing.T) {
	cases := []struct {
		name    string
		servers []api.RaftServer
		want    string
	}{
		{"one of three voters", servers("n1:v:up", "n2:v:down", "n3:v:down"),
			"no leader: 1 of 3 voters reachable (n1); a quorum needs 2 — bring back n2 or n3"},
		{"two of five voters, and a non-voter that does not count", servers("n1:v:up", "n2:v:up", "n3:v:down", "n4:v:down", "n5:v:down", "n6:n:up"),
			"no leader: 2 of 5 voters reachable (n1, n2); a quorum needs 3 — bring back one of n3, n4 or n5"},
		{"one of five voters", servers("n1:v:up", "n2:v:down", "n3:v:down", "n4:v:down", "n5:v:down"),
			"no leader: 1 of 5 voters reachable (n1); a quorum needs 3 — bring back 2 of n2, n3, n4 or n5"},
		{"a quorum reachable, electing", servers("n1:v:up", "n2:v:up", "n3:v:down"),
			"no leader yet: 2 of 3 voters reachable (n1, n2), enough for a quorum of 2: an election should end within seconds; if none does, check that they reach each other's raft addresses"},
		{"the others follow a leader this agent cannot reach", servers("n1:v:up", "n2:v:up:n3", "n3:v:up:n3"),
			"no leader known to n1, but n2 and n3 follow n3: n1 is cut off from the leader; check that n3 reaches n1's raft address 127.0.0.1:1 (a changed --raft-addr is moved by registering through a member)"},
		{"not in its own configuration", servers("n2:v:up:n2", "n3:v:up:n2"),
			"no leader known to n1, and n1 is not in its own raft configuration: it was removed from the cluster; to rejoin, start it with an empty --data-dir and --join"},
		{"no configuration at all", nil,
			"no leader: n1 has no raft configuration: it has not joined a cluster yet (start it with --join, or --bootstrap for a new cluster)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, diagnose("n1", tc.servers))
		})
	}
}

package node

import (
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

func TestRaftPeersAreAdmittedByTheirServerID(t *testing.T) {
	cfg := raft.Configuration{Servers: []raft.Server{
		{ID: "n1", Suffrage: raft.Voter}, {ID: "n2", Suffrage: raft.Voter}, {ID: "n6", Suffrage: raft.Nonvoter},
	}}
	for _, tc := range []struct {
		cfg   raft.Configuration
		name  string
		admit bool
	}{
		{cfg, "n2", true},
		{cfg, "n6", true}, // a non-voter is a server too
		{cfg, "n9", false},
		{cfg, "", false},
		{raft.Configuration{}, "n9", true}, // not joined yet: the leader is unknown
	} {
		err := admitPeer(tc.cfg, tc.name)
		if tc.admit {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorContains(t, err, "not a server of this cluster's Raft configuration", tc.name)
		}
	}
}

package tls

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node/tlsnet"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// The attack of issue 14 against a cluster with TLS: a process with no
// certificate, one with a certificate of another CA, and one with a node
// certificate of the cluster's own CA for a member that never joined, send
// Raft RPCs to a follower: an AppendEntries that commits a member.join at a higher
// term, an InstallSnapshot with the state that once panicked Restore, and
// a RequestVote. Every one is refused before Raft reads it; the catalogue,
// the term and the agents stay as they were.
func TestRaftRefusesPeersWithoutACertificateOfTheCA(t *testing.T) {
	c, _ := tlsCluster(t, 3)
	leader := c.Leader()
	var follower *procs.Agent
	for _, a := range c.Agents {
		if a != leader {
			follower = a
			break
		}
	}
	before := roster(t, follower)
	term := health(t, follower).Term

	plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, nil)
	require.NoError(t, err)
	defer plain.Close()
	other, err := procs.NewCA(filepath.Join(t.TempDir(), "other"), "another CA")
	require.NoError(t, err)
	foreign := tlsTransport(t, other, "n9")
	stranger := tlsTransport(t, c.CA, "n9")
	for name, trans := range map[string]raft.Transport{"plain TCP": plain, "certificate of another CA": foreign,
		"the CA's certificate of a non-member": stranger} {
		t.Run(name, func(t *testing.T) {
			target := raft.ServerAddress(follower.RaftAddr)
			require.Error(t, forgedAppend(trans, target, term+50), "AppendEntries")
			snap := []byte(`{"txns":{"x":null}}`)
			err := trans.InstallSnapshot(raft.ServerID(follower.ID), target, &raft.InstallSnapshotRequest{
				RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte("127.0.0.1:1")}, SnapshotVersion: 1,
				Term: term + 60, LastLogIndex: 1 << 20, LastLogTerm: term + 60, Size: int64(len(snap)),
			}, &raft.InstallSnapshotResponse{}, bytes.NewReader(snap))
			require.Error(t, err, "InstallSnapshot")
			err = trans.RequestVote(raft.ServerID(follower.ID), target, &raft.RequestVoteRequest{
				RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte("127.0.0.1:1")},
				Term:      term + 70, LastLogIndex: 1 << 20, LastLogTerm: term + 70,
			}, &raft.RequestVoteResponse{})
			require.Error(t, err, "RequestVote")
		})
	}

	for _, a := range c.Agents {
		require.False(t, a.Exited(), "%s is still running", a.ID)
		require.Equal(t, before, roster(t, a), "%s's catalogue is unchanged", a.ID)
		require.Less(t, health(t, a).Term, term+50, "%s never saw the forged terms", a.ID)
	}
	log := procs.Tail(follower.LogPath, 100000)
	require.Contains(t, log, "raft connection refused")
	require.Contains(t, log, "not a server of this cluster's Raft configuration")
}

// forgedAppend sends an AppendEntries carrying a member.join as if from a
// leader of a later term.
func forgedAppend(trans raft.Transport, target raft.ServerAddress, term uint64) error {
	join := []byte(`{"type":"member.join","protocol":1,"data":{"id":"evil","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2","voter":true}}`)
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte("127.0.0.1:1")},
		Term: term, PrevLogEntry: 0, PrevLogTerm: 0, LeaderCommitIndex: 1 << 20,
		Entries: []*raft.Log{{Index: 1 << 20, Term: term, Type: raft.LogCommand, Data: join}}}
	return trans.AppendEntries("intruder", target, req, &raft.AppendEntriesResponse{})
}

// tlsTransport is a Raft transport over TLS with a node certificate of ca
// for id.
func tlsTransport(t *testing.T, ca *procs.CA, id string) raft.Transport {
	t.Helper()
	leaf, err := ca.Node(id)
	require.NoError(t, err)
	ident, err := tlsnet.Load(tlsnet.Files{Cert: leaf.CertFile, Key: leaf.KeyFile, CA: ca.CertFile}, id)
	require.NoError(t, err)
	stream, err := tlsnet.NewStreamLayer("127.0.0.1:0", nil, ident, hclog.NewNullLogger())
	require.NoError(t, err)
	trans := tlsnet.NewTransport(stream, raft.NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second})
	t.Cleanup(func() { trans.Close() })
	return trans
}

// roster is who the catalogue as a serves it counts in, at which Raft
// address, as a voter or not: what a forged member.join would change.
func roster(t *testing.T, a *procs.Agent) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range members(t, a) {
		out[m.ID] = fmt.Sprintf("%s voter=%v", m.RaftAddr, m.Voter)
	}
	return out
}

func health(t *testing.T, a *procs.Agent) api.Health {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := a.Client().Health(ctx)
	require.NoError(t, err)
	return h
}

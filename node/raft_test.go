package node

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// TestRaftTransportReplicatesWithoutPipelining guards against hashicorp/raft
// v1.7.3's pipeline deadlock: after a follower rejects an append, the
// pipeline's send loop can park on inprogressCh while decodeResponses parks
// on doneCh, so replicate() never returns. The follower then gets heartbeats
// but no entries, and the old leader's Shutdown waits forever on that
// goroutine: the chaos suite found agents that never stopped on SIGTERM
// (their stacks showed netPipeline.AppendEntries). Raft must therefore
// replicate synchronously: the transport refuses to build a pipeline.
func TestRaftTransportReplicatesWithoutPipelining(t *testing.T) {
	tr, err := newTransport("127.0.0.1:0", nil, nil, nil, hclog.NewNullLogger())
	require.NoError(t, err)
	defer tr.Close()
	_, err = tr.AppendEntriesPipeline("peer", "127.0.0.1:1")
	require.ErrorIs(t, err, raft.ErrPipelineReplicationNotSupported)
}

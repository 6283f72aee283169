package history

import (
	"testing"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestCommandsKeepTheFirstDeliveryOfEachIndex(t *testing.T) {
	t0 := time.Now()
	events := []Event{
		{Event: api.Event{Index: 2, Type: "txn.start", Agent: "n2"}, Received: t0.Add(3 * time.Second)},
		{Event: api.Event{Index: 1, Type: "member.join", Agent: "n1"}, Received: t0},
		{Event: api.Event{Index: 2, Type: "txn.start", Agent: "n1"}, Received: t0.Add(time.Second)},
		{Event: api.Event{Index: 9, Type: api.EventLeadershipGained, Agent: "n1"}, Received: t0},
	}
	cmds := Commands(events)
	require.Len(t, cmds, 2)
	require.Equal(t, uint64(1), cmds[0].Index)
	require.Equal(t, "n1", cmds[1].Agent, "the earliest delivery wins")
}

func TestRecorderWritesInvokeAndCompletion(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRecorder(dir)
	require.NoError(t, err)
	op := r.Begin(Op{Kind: KindRead})
	r.Finish(op, OK)
	require.NoError(t, r.Close())
	require.Len(t, r.Ops(), 1)
	require.Equal(t, int64(1), r.Ops()[0].ID)
	require.False(t, r.Ops()[0].Complete.Before(r.Ops()[0].Invoke))
}

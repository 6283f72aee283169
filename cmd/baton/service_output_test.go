package main

import (
	"bytes"
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestSwitchoverLinesFollowItsPhases(t *testing.T) {
	sw := api.Switchover{OldPrimary: "n2", Candidate: "n3", Phase: api.SwitchChosen, Diagnostic: "healthy", CandidateLag: 2, MaxLag: 5}
	prev := api.Txn{ID: "t-1", State: api.TxnRunning}
	cur := prev
	cur.Switchovers = []api.Switchover{sw}
	require.Equal(t, []string{"switch-over n2 -> n3: chosen (lag 2, max 5; old primary healthy)"}, switchoverLines(&prev, cur))
	require.Empty(t, switchoverLines(&cur, cur), "nothing moved")

	next := cur
	next.Switchovers = []api.Switchover{sw}
	next.Switchovers[0].Phase = api.SwitchCommitted
	require.Equal(t, []string{"switch-over n2 -> n3: committed (n3 is the primary)"}, switchoverLines(&cur, next))

	failed := cur
	failed.Switchovers = []api.Switchover{sw}
	failed.Switchovers[0].Phase, failed.Switchovers[0].Error = api.SwitchFailed, "promote on n3 failed:\nexit 1"
	require.Equal(t, []string{"switch-over n2 -> n3: failed: promote on n3 failed: exit 1"}, switchoverLines(&cur, failed))

	var b bytes.Buffer
	next.MaxLag = 5
	require.NoError(t, writeTxn(&b, next))
	require.Contains(t, b.String(), "max lag       5\n")
	require.Contains(t, b.String(), "switch-over n2 -> n3: committed (n3 is the primary)\n")
}

func TestMemberRoleColumn(t *testing.T) {
	require.Equal(t, "primary", memberRole(api.Member{Role: api.RolePrimary}))
	require.Equal(t, "-", memberRole(api.Member{}))
}

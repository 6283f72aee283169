package main

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestPlanAndStatusShowGroups(t *testing.T) {
	groups := []api.Group{{Name: "10.0.1.0/24", Leader: "n1", Members: []string{"n2", "n3", "n1"}},
		{Name: "10.0.2.0/24", Leader: "n4", Members: []string{"n4"}}}
	p := api.Plan{TargetVersion: "2.0.0", Strategy: "grouped", MaxParallel: 2, Groups: groups, GroupBy: "subnet:24", MaxGroups: 1,
		Batches: []api.PlanBatch{{Nodes: []string{"n2", "n3"}}, {Nodes: []string{"n1"}}, {Nodes: []string{"n4"}}}}
	var b bytes.Buffer
	require.NoError(t, writePlan(&b, p))
	require.Contains(t, b.String(), "groups        2 by subnet:24, 1 at once, max parallel 2 per group\n")
	require.Contains(t, b.String(), "GROUP        LEADER  MEMBERS   ACTING\n10.0.1.0/24  n1      n2,n3,n1  -\n10.0.2.0/24  n4      n4        -\n")

	txn := testTxn(api.TxnRunning, testStep("n1", 1, api.StepRunning, 1))
	txn.Groups = groups
	txn.Groups[0].Acting, txn.Groups[0].ActingReason = "n3", "leader n1 upgrades"
	b.Reset()
	require.NoError(t, writeTxn(&b, txn))
	require.Contains(t, b.String(), "10.0.1.0/24  n1      n2,n3,n1  n3 (leader n1 upgrades)\n")
}

func TestUpgradePlanSendsTheGrouping(t *testing.T) {
	a := newFakeAgent(t)
	code, _, errOut := runBaton(t, "upgrade", "plan", "--version", "2.0.0", "--strategy", "grouped", "--group-by", "label:rack", "--max-groups", "3", "--json")
	require.Equal(t, 0, code, errOut)
	reqs := a.seen()
	require.Len(t, reqs, 1)
	require.Equal(t, http.MethodPost, reqs[0].Method)
	require.JSONEq(t, `{"target_version":"2.0.0","strategy":"grouped","group_by":"label:rack","max_groups":3}`, reqs[0].Body)

	code, _, errOut = runBaton(t, "upgrade", "plan", "--version", "2.0.0", "--strategy", "grouped", "--max-groups", "0")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--max-groups 0: want at least 1")
	require.Len(t, a.seen(), 1, "a usage error sends nothing")
}

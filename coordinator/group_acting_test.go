package coordinator

import (
	"context"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// groupedHarness starts a grouped transaction on five voters at protocol 3:
// n2..n5 labelled g=a (group a, leader n2, members first: n3, n4, n5), n1
// without the label (group "(no label)"), one node at a time.
func groupedHarness(t *testing.T) *harness {
	t.Helper()
	label := func(c *fakeCluster) {
		for _, m := range membersAt(5, 3)[1:] {
			m.Labels = map[string]string{"g": "a"}
			_, err := c.Apply(context.Background(), fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
			require.NoError(t, err)
		}
	}
	return newHarnessAt(t, 3, 5, api.StartRequest{TargetVersion: "2.0.0", Strategy: "grouped", GroupBy: "label:g"}, label)
}

func TestGroupedStartRecordsTheGroups(t *testing.T) {
	h := groupedHarness(t)
	txn := h.txn()
	require.Equal(t, []fsm.Group{{Name: "a", Leader: "n2", Members: []string{"n3", "n4", "n5", "n2"}},
		{Name: "(no label)", Leader: "n1", Members: []string{"n1"}}}, txn.Groups)
	var order []string
	for _, s := range txn.Steps {
		order = append(order, s.Node)
	}
	require.Equal(t, []string{"n3", "n4", "n5", "n2", "n1"}, order, "the group's leader after its members")
}

// TestAMemberActsWhileTheGroupLeaderUpgrades: before the group leader's
// step begins, the member with the highest idle weight is recorded acting
// for the group; when the leader is done, the record is cleared; when the
// leader becomes unreachable, a member acts again, for that reason.
func TestAMemberActsWhileTheGroupLeaderUpgrades(t *testing.T) {
	h := groupedHarness(t)
	h.n.idle = map[string]float64{"n3:80": 0.2, "n4:80": 0.9, "n5:80": 0.4}
	for _, node := range []string{"n3", "n4", "n5"} {
		h.drive()
		require.Equal(t, []string{node}, h.running())
		require.Empty(t, h.txn().Group("a").Acting, "the leader acts while its members upgrade")
		h.complete(node)
	}
	h.drive()
	require.Equal(t, []string{"n2"}, h.running())
	g := h.txn().Group("a")
	require.Equal(t, "n4", g.Acting, "the highest idle weight acts for the group")
	require.Equal(t, "leader n2 upgrades", g.ActingReason)

	h.complete("n2")
	h.drive()
	require.Empty(t, h.txn().Group("a").Acting, "the leader, done, acts again")

	_, err := h.c.Apply(h.ctx, fsm.CmdMemberLiveness, fsm.MemberLiveness{ID: "n2", Status: fsm.LivenessUnreachable})
	require.NoError(t, err)
	h.n.down["n4:80"] = true
	h.drive()
	g = h.txn().Group("a")
	require.Equal(t, "n5", g.Acting, "n4 no longer answers: the next highest idle weight")
	require.Equal(t, "leader n2 unreachable", g.ActingReason)
}

// TestNobodyToActHoldsNothingBack: when no member can act, the leader's
// step begins all the same, and nothing is recorded.
func TestNobodyToActHoldsNothingBack(t *testing.T) {
	h := groupedHarness(t)
	for _, node := range []string{"n3", "n4", "n5"} {
		h.drive()
		h.complete(node)
	}
	for _, addr := range []string{"n3:80", "n4:80", "n5:80"} {
		h.n.down[addr] = true
	}
	h.drive()
	require.Equal(t, []string{"n2"}, h.running())
	require.Empty(t, h.txn().Group("a").Acting)
	require.NotEmpty(t, h.logs.records(t, "nobody can act for the group"))
}

// TestGroupedNeedsProtocol3: a grouped start is refused while the cluster
// speaks an older protocol, which would drop its groups.
func TestGroupedNeedsProtocol3(t *testing.T) {
	c := newFakeClusterAt(t, 2, "n1", membersAt(3, 2)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	_, err := co.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0", Strategy: "grouped", GroupBy: "label:g"})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	require.EqualError(t, err, "invalid: --strategy grouped needs protocol 3, and the cluster speaks 2 until every member is upgraded and the transaction finalizes")
}

func TestGroupingFlagsAreRefusedWithOtherStrategies(t *testing.T) {
	c := newFakeClusterAt(t, 3, "n1", membersAt(3, 3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	for _, req := range []api.StartRequest{
		{TargetVersion: "2.0.0", GroupBy: "label:g"},
		{TargetVersion: "2.0.0", Strategy: "by-id", MaxGroups: 2},
	} {
		_, err := co.Plan(context.Background(), req)
		require.ErrorIs(t, err, fsm.ErrInvalid)
		require.ErrorContains(t, err, "--group-by and --max-groups are for --strategy grouped")
	}
	for req, want := range map[api.StartRequest]string{
		{TargetVersion: "2.0.0", Strategy: "grouped", GroupBy: "rack"}:                   `group-by "rack": want subnet:N`,
		{TargetVersion: "2.0.0", Strategy: "grouped", GroupBy: "label:g", MaxGroups: -2}: "max-groups -2: must be at least 1",
		{TargetVersion: "2.0.0", Strategy: "grouped"}:                                    `member n1: its address "n1" is not an IP address`,
	} {
		_, err := co.Plan(context.Background(), req)
		require.ErrorIs(t, err, fsm.ErrInvalid)
		require.ErrorContains(t, err, want)
	}
}

// TestGroupedPlanShowsGroups: the plan lists the groups by the host of
// each member's HTTP address, with the grouping that made them.
func TestGroupedPlanShowsGroups(t *testing.T) {
	c := newFakeClusterAt(t, 3, "n1", membersAt(4, 3)...)
	for _, m := range membersAt(4, 3) {
		m.HTTPAddr = map[string]string{"n1": "10.0.0.1:80", "n2": "10.0.0.2:80", "n3": "10.0.1.3:80", "n4": "[2001:db8::4]:80"}[m.ID]
		_, err := c.Apply(context.Background(), fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
		require.NoError(t, err)
	}
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	req := api.StartRequest{TargetVersion: "2.0.0", Strategy: "grouped", MaxGroups: 2}
	p, err := co.Plan(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, []api.Group{{Name: "10.0.0.0/24", Leader: "n1", Members: []string{"n2", "n1"}},
		{Name: "10.0.1.0/24", Leader: "n3", Members: []string{"n3"}},
		{Name: "2001:d00::/24", Leader: "n4", Members: []string{"n4"}}}, p.Groups)
	require.Equal(t, "subnet:24", p.GroupBy)
	require.Equal(t, 2, p.MaxGroups)
	require.Equal(t, 1, p.MaxParallel)
}

package checker

import (
	"testing"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// serviceSwitch adds goodRun's fake service: n1 is its primary from the
// start; the roles are recorded at 50 ms; before n1's step (3000 ms) the
// switch-over demotes n1 and promotes n2, in sync, then n3 follows.
func serviceSwitch(b *builder) {
	b.role(-1000, "set", "n1", api.RolePrimary)
	b.cmd(50, api.EventServiceRoles, "", "", 0)
	b.hook(2600, "begin", "demote", "n1", "t1", 0)
	b.role(2610, "demote", "n1", api.RoleReplica)
	b.promote(2700, "n2", "t1", "0")
	b.role(2710, "promote", "n2", api.RolePrimary)
	b.hook(2800, "begin", "follow", "n3", "t1", 0)
}

func (b *builder) role(ms int, hook, node, role string) {
	b.in.Hooks = append(b.in.Hooks, procs.HookEvent{Kind: "role", Hook: hook, Node: node, Txn: "t1", At: b.at(ms), Target: role})
}

func (b *builder) promote(ms int, node, txn, lag string) {
	b.in.Hooks = append(b.in.Hooks, procs.HookEvent{Kind: "lag", Hook: "promote", Node: node, Txn: txn, At: b.at(ms), Target: lag})
}

func TestOnePrimary(t *testing.T) {
	t.Run("kept through the switch-over", func(t *testing.T) {
		r := CheckOnePrimary(goodRun().in)
		require.Equal(t, Pass, r.Status)
		require.Equal(t, 3, r.Checked)
	})
	t.Run("a promote before the old primary is demoted", func(t *testing.T) {
		b := goodRun()
		b.role(2605, "promote", "n3", api.RolePrimary)
		v := requireCaught(t, CheckOnePrimary, b.in, "t1", "n1", "n3")
		require.Contains(t, v.What, "n1 and n3 were the service's primary at once")
	})
}

func TestNoPrimaryUpgrade(t *testing.T) {
	t.Run("the primary's install after its switch-over", func(t *testing.T) {
		r := CheckNoPrimaryUpgrade(goodRun().in)
		require.Equal(t, Pass, r.Status)
		require.Equal(t, 3, r.Checked)
	})
	t.Run("an install on the primary", func(t *testing.T) {
		b := goodRun()
		b.role(990, "set", "n3", api.RolePrimary) // n3 leads the service during its own step
		b.role(1450, "set", "n3", api.RoleReplica)
		v := requireCaught(t, CheckNoPrimaryUpgrade, b.in, "t1", "n3")
		require.Contains(t, v.What, "while n3 was the service's primary")
	})
	t.Run("steps begun before Baton knew the roles are not judged", func(t *testing.T) {
		b := goodRun()
		b.in.Commands = nil
		b.cmd(10, api.EventTxnStart, "t1", "", 0)
		b.cmd(1000, api.EventStepBegin, "t1", "n3", 1)
		b.cmd(1200, api.EventServiceRoles, "", "", 0)
		b.role(990, "set", "n3", api.RolePrimary)
		r := CheckNoPrimaryUpgrade(b.in)
		require.Equal(t, Pass, r.Status, "%v", r.Violation)
		require.Zero(t, r.Checked)
	})
	t.Run("roles never recorded", func(t *testing.T) {
		b := goodRun()
		b.in.Commands = nil
		r := CheckNoPrimaryUpgrade(b.in)
		require.Equal(t, Pass, r.Status)
		require.Contains(t, r.Note, "never recorded")
	})
}

func TestPromoteLag(t *testing.T) {
	t.Run("promoted in sync", func(t *testing.T) {
		r := CheckPromoteLag(goodRun().in)
		require.Equal(t, Pass, r.Status)
		require.Equal(t, 1, r.Checked)
	})
	t.Run("promoted at the limit", func(t *testing.T) {
		b := goodRun()
		b.in.Final[0].MaxLag = 10
		b.promote(2900, "n3", "t1", "10")
		require.Equal(t, Pass, CheckPromoteLag(b.in).Status)
	})
	t.Run("promoted over the limit", func(t *testing.T) {
		b := goodRun()
		b.in.Final[0].MaxLag = 10
		b.promote(2900, "n3", "t1", "15")
		v := requireCaught(t, CheckPromoteLag, b.in, "t1", "n3")
		require.Contains(t, v.What, "lag 15, over --max-lag 10")
	})
	t.Run("a transaction the final read did not show is noted, not judged", func(t *testing.T) {
		b := goodRun()
		b.promote(2900, "n3", "t9", "99")
		r := CheckPromoteLag(b.in)
		require.Equal(t, Pass, r.Status)
		require.Contains(t, r.Note, "1 promote(s)")
	})
}

// A failed switch-over halts its transaction, as the linearizability
// model and the transaction checks must know: a read that shows it failed
// afterwards is not a violation.
func TestFailedSwitchoverHaltsInTheModel(t *testing.T) {
	b := newBuilder()
	b.in.InitialProtocol = 3
	b.op("api-1", history.KindStart, 0, 20, history.OK, result("t1", "running"))
	b.cmd(10, api.EventTxnStart, "t1", "", 0)
	b.cmd(100, api.EventSwitchoverBegin, "t1", "n1", 0)
	b.cmd(200, api.EventSwitchoverFail, "t1", "n1", 0)
	b.op("api-2", history.KindRead, 300, 320, history.OK, consistent, txnArg("t1"), result("t1", "failed"))
	b.final("t1", api.TxnFailed, 1, api.OnFailureHalt, api.Step{Node: "n1", State: api.StepPending})
	r := newReplay(b.in)
	require.Equal(t, api.TxnFailed, r.txns["t1"].state)
	require.Empty(t, r.found)
	require.Equal(t, Pass, CheckLinearizable(b.in).Status)
}

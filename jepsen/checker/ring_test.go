package checker

import (
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// ringRun is transaction t1 with --strategy ring over the ring n1 n2 n3
// n4 and max-parallel 2: n1 and n3 together, then n2 and n4.
func ringRun() *builder {
	b := newBuilder()
	b.cmd(10, api.EventTxnStart, "t1", "", 0)
	b.cmd(100, api.EventStepBegin, "t1", "n1", 1)
	b.cmd(101, api.EventStepBegin, "t1", "n3", 1)
	b.install(120, 400, "n1", "t1", 1)
	b.install(130, 410, "n3", "t1", 1)
	b.cmd(500, api.EventStepComplete, "t1", "n1", 1)
	b.cmd(510, api.EventStepComplete, "t1", "n3", 1)
	b.cmd(600, api.EventStepBegin, "t1", "n2", 1)
	b.cmd(601, api.EventStepBegin, "t1", "n4", 1)
	b.install(620, 900, "n2", "t1", 1)
	b.install(630, 910, "n4", "t1", 1)
	b.cmd(1000, api.EventStepComplete, "t1", "n2", 1)
	b.cmd(1010, api.EventStepComplete, "t1", "n4", 1)
	b.in.Final = append(b.in.Final, api.Txn{ID: "t1", State: api.TxnDone, Strategy: "ring", Ring: []string{"n1", "n2", "n3", "n4"},
		MaxParallel: 2, OnFailure: api.OnFailureHalt,
		Steps: []api.Step{doneStep("n1", 1), doneStep("n2", 1), doneStep("n3", 1), doneStep("n4", 1)}})
	b.in.End = b.at(2000)
	return b
}

func TestRingNeighbours(t *testing.T) {
	t.Run("non-neighbours together", func(t *testing.T) {
		r := CheckRingNeighbours(ringRun().in)
		require.Equal(t, Pass, r.Status, "%v", r.Violation)
		require.Positive(t, r.Checked)
	})
	t.Run("the log begins a neighbour of a running step", func(t *testing.T) {
		b := ringRun()
		b.cmd(450, api.EventStepBegin, "t1", "n2", 1) // n1 (and n3) still run
		requireCaught(t, CheckRingNeighbours, b.in, "t1", "n2")
	})
	t.Run("the last and the first are neighbours", func(t *testing.T) {
		b := ringRun()
		b.install(150, 300, "n4", "t1", 2) // overlaps n1's install
		requireCaught(t, CheckRingNeighbours, b.in, "t1", "n1", "n4")
	})
	t.Run("other strategies are not bound by the ring", func(t *testing.T) {
		b := ringRun()
		b.in.Final[0].Strategy, b.in.Final[0].Ring = "by-id", nil
		b.install(150, 300, "n4", "t1", 2)
		require.Equal(t, Pass, CheckRingNeighbours(b.in).Status)
	})
}

func TestRingNeighboursOf(t *testing.T) {
	ring := []string{"a", "b", "c", "d"}
	require.Equal(t, []string{"d", "b"}, ringNeighbours(ring, "a"))
	require.Equal(t, []string{"c", "a"}, ringNeighbours(ring, "d"))
	require.Equal(t, []string{"b"}, ringNeighbours([]string{"a", "b"}, "a"))
	require.Empty(t, ringNeighbours([]string{"a"}, "a"))
	require.Empty(t, ringNeighbours(ring, "x"))
}

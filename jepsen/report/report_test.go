package report

import (
	"bytes"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/stretchr/testify/require"
)

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(ds)
	require.Equal(t, 50*time.Millisecond, p.P50)
	require.Equal(t, 99*time.Millisecond, p.P99)
	require.Equal(t, 100*time.Millisecond, p.Max)
	require.Equal(t, Percentiles{}, percentiles(nil))
}

func TestSummaryCountsFaultsAndViolations(t *testing.T) {
	t0 := time.Now()
	r := &Result{Seed: 7, Nodes: 3, Runs: 1, Checks: []checker.Result{
		{Invariant: "I1", Status: checker.Pass},
		{Invariant: "I2", Status: checker.Fail, Violation: &checker.Violation{At: t0, What: "install twice"}},
	}}
	r.Tally([]history.Op{{Kind: "read", Type: history.OK}, {Kind: "start", Type: history.Info}},
		[]history.Fault{
			{Kind: "pause", Start: t0, Healed: t0.Add(time.Second), Recovered: t0.Add(1100 * time.Millisecond), Available: t0.Add(300 * time.Millisecond)},
			{Kind: "pause", Start: t0, Healed: t0.Add(time.Second)},
		},
		[]history.TxnView{{State: "done"}, {State: "aborted"}, {State: "done"}})
	require.Equal(t, 1, r.Violations())
	require.Equal(t, Transactions{Started: 3, Done: 2, Aborted: 1}, r.Transactions)
	require.Equal(t, FaultStats{Count: 2, Unrecovered: 1,
		Recovery: Percentiles{P50: 100 * time.Millisecond, P99: 100 * time.Millisecond, Max: 100 * time.Millisecond},
		Outage:   Percentiles{P50: 300 * time.Millisecond, P99: 300 * time.Millisecond, Max: 300 * time.Millisecond}}, r.Faults["pause"])
	var b bytes.Buffer
	r.WriteSummary(&b)
	require.Contains(t, b.String(), "violations     1")
	require.Contains(t, b.String(), "install twice")
	require.Contains(t, r.Markdown(), "1 VIOLATION(S)")
}

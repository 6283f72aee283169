package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
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

func TestSummaryCountsSnapshotsPerNode(t *testing.T) {
	r := &Result{Snapshots: map[string]procs.SnapshotActivity{
		"n2": {Taken: 3, Installed: 1, Restored: 1},
		"n1": {Taken: 4, SendsTried: 2, Failed: 1},
	}}
	var b bytes.Buffer
	r.WriteSummary(&b)
	out := b.String()
	require.Regexp(t, `node\s+snapshots taken\s+sends tried \(leader\)\s+installed from a leader\s+restored at start\s+failed \(retried\)`, out)
	require.Regexp(t, `n1\s+4\s+2\s+0\s+0\s+1\n`, out)
	require.Regexp(t, `n2\s+3\s+0\s+1\s+1\s+0\n`, out)
	require.Regexp(t, `all\s+7\s+2\s+1\s+1\s+1\n`, out)
	require.Less(t, strings.Index(out, "n1 "), strings.Index(out, "n2 "), "nodes in id order")
}

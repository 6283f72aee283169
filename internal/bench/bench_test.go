package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []float64
		want    Summary
	}{
		{"none", nil, Summary{}},
		{"one", []float64{3}, Summary{N: 1, Median: 3, P99: 3, P25: 3, P75: 3, Min: 3, Max: 3}},
		{"unsorted", []float64{4, 1, 3, 2, 5}, Summary{N: 5, Median: 3, P99: 4.96, P25: 2, P75: 4, Min: 1, Max: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.samples)
			require.InDelta(t, tc.want.P99, got.P99, 1e-9)
			got.P99 = tc.want.P99
			require.Equal(t, tc.want, got)
		})
	}
}

func TestTargetMet(t *testing.T) {
	s := Summary{N: 3, Median: 2, P99: 49.9, Max: 50}
	require.True(t, Target{Stat: "median", Op: "<=", Value: 2}.Met(s))
	require.False(t, Target{Stat: "median", Op: "<", Value: 2}.Met(s))
	require.True(t, Target{Stat: "p99", Op: "<", Value: 50}.Met(s))
	require.False(t, Target{Stat: "max", Op: "<", Value: 50}.Met(s))
	require.False(t, Target{Stat: "p99", Op: "<", Value: 50}.Met(Summary{}), "no samples meet nothing")
	require.Equal(t, "median ≤ 2", Target{Stat: "median", Op: "<=", Value: 2}.String())
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/baton-upgrade/baton/fsm
BenchmarkStepCommands-2   	  200	      6453 ns/op	     842 B/op	      19 allocs/op
BenchmarkClone-2          	  200	   5305352 ns/op	 3786128 B/op	      40 allocs/op
BenchmarkStepCommands-2   	  200	      6553 ns/op	     842 B/op	      19 allocs/op
PASS
pkg: github.com/baton-upgrade/baton/coordinator
BenchmarkTurn-2   	     200	     31382 ns/op	    5040 B/op	      10 allocs/op
`
	got, err := ParseGoBench(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, "fsm.BenchmarkStepCommands", got[0].Name)
	require.Equal(t, 2, got[0].NsPerOp.N)
	require.InDelta(t, 6503, got[0].NsPerOp.Median, 1e-9)
	require.Equal(t, "coordinator.BenchmarkTurn", got[2].Name)
	require.InDelta(t, 10, got[2].AllocsPerOp.Median, 1e-9)
}

func TestStepPartsAddUpToTheTransaction(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond) }
	ev := func(agent, msg string, ms int, fields ...string) logEvent {
		f := map[string]any{"txn": "t1"}
		for i := 0; i+1 < len(fields); i += 2 {
			f[fields[i]] = fields[i+1]
		}
		return logEvent{Agent: agent, Msg: msg, At: at(ms), Fields: f}
	}
	events := []logEvent{
		ev("n1", "step begun", 2, "node", "n2"),
		ev("n2", "step started", 3),
		ev("n2", "step finished", 13),
		ev("n1", "completion notice committed", 15, "node", "n2"),
		ev("n1", "handing leadership off", 16),
		ev("n2", "step begun", 25, "node", "n1"),
		ev("n1", "step started", 26),
		ev("n1", "step finished", 36),
		ev("n2", "completion notice committed", 38, "node", "n1"),
	}
	parts := stepParts(events, "t1", at(0), at(42))
	var sum time.Duration
	for _, p := range PartOrder {
		sum += parts[p]
	}
	require.Equal(t, 21*time.Millisecond, sum, "the parts add up to the time per step")
	require.Equal(t, time.Millisecond, parts[PartStart])
	require.Equal(t, 10*time.Millisecond, parts[PartNode])
	require.Equal(t, 5*time.Millisecond, parts[PartHandoff])
	require.Equal(t, 2*time.Millisecond, parts[PartFinalize])
	require.Zero(t, parts[PartTurn])
}

func TestMergeKeepsTheSectionsNotMeasuredAgain(t *testing.T) {
	then := time.Date(2026, 11, 22, 3, 49, 0, 0, time.UTC)
	old := &Report{Command: "make bench", Started: then, Setup: []string{"ansible was installed"},
		Machine: Machine{CPU: "Intel Xeon", Cores: 2, Kernel: "6.1", LoadStart: "0.9 1.3 1.6"},
		Sections: []Section{{ID: SecLimits, Title: "1. Limits"}, {ID: SecScale, Title: "5. Scale"}, {ID: SecAnsible, Title: "6. Ansible"},
			{ID: SecSnapshot, Title: "7. Snapshots (old)"}},
		Rows: []Row{{Section: SecLimits, Name: "old fsync"}, {Section: SecScale, Name: "txn"}, {Section: SecAnsible, Name: "ansible"},
			{Section: SecSnapshot, Name: "old snapshot"}},
		GoBench: []GoBenchmark{{Name: "fsm.BenchmarkSnapshot"}}}
	r := &Report{Command: "batonbench -only snapshot -merge", Started: then.Add(time.Hour),
		Sections: []Section{{ID: SecLimits, Title: "1. Limits"}, {ID: SecSnapshot, Title: "7. Snapshots"}},
		Rows:     []Row{{Section: SecLimits, Name: "new fsync"}, {Section: SecSnapshot, Name: "new snapshot"}}}
	r.MergeFrom(old)

	var ids, rows []string
	for _, s := range r.Sections {
		ids = append(ids, s.ID)
	}
	for _, row := range r.Rows {
		rows = append(rows, row.Name)
	}
	require.Equal(t, []string{SecLimits, SecScale, SecAnsible, SecSnapshot}, ids, "in the page's order")
	require.ElementsMatch(t, []string{"new fsync", "new snapshot", "txn", "ansible"}, rows, "measured sections are this run's, the others the old run's")
	machine := "Intel Xeon, 2 logical cores, Linux 6.1, load average 0.9 1.3 1.6 at its start"
	require.Equal(t, []Carried{{ID: SecScale, Title: "5. Scale", From: then, Command: "make bench", Machine: machine},
		{ID: SecAnsible, Title: "6. Ansible", From: then, Command: "make bench", Machine: machine}}, r.Carried)
	require.Equal(t, old.GoBench, r.GoBench, "no Go benchmarks in this run: the old ones are kept")
	require.Equal(t, []string{`ansible was installed (by the run of 2026-11-22 03:49 UTC, whose section "6. Ansible" is carried over)`}, r.Setup)

	md := r.Markdown()
	require.Contains(t, md, "but those of the sections marked as carried over")
	require.Contains(t, md, "## 5. Scale\n\n*Carried over, not measured again in this run: measured by `make bench` on 2026-11-22 03:49 UTC, on "+machine)
	require.NotContains(t, md, "## 7. Snapshots\n\n*Carried over")

	// Merged again later, a carried section keeps the date it was measured.
	again := &Report{Command: "batonbench -only snapshot -merge", Started: then.Add(2 * time.Hour),
		Sections: []Section{{ID: SecLimits}, {ID: SecSnapshot}}}
	again.MergeFrom(r)
	require.Equal(t, then, again.Carried[0].From)
	require.Equal(t, machine, again.Carried[0].Machine)
	require.Equal(t, r.Setup, again.Setup, "carried set-up lines are not annotated twice")
}

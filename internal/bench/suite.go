package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Config is what a run of the suite needs.
type Config struct {
	// Bin is the baton binary the clusters run.
	Bin string
	// DataDir holds every data directory of the run; its disk is the one
	// whose fsync is measured.
	DataDir string
	// Log receives progress lines.
	Log io.Writer
	// Quick takes fewer samples, for a smoke run; its figures are not the
	// ones to publish.
	Quick bool
	// Only, when not empty, names the sections to run (limits always run:
	// the other figures are judged against them).
	Only map[string]bool
	// Seed makes the moments of the kills repeatable.
	Seed uint64
	// Scale runs the scale measurement, in a process of its own so that
	// its peak memory is its own.
	Scale func(ctx context.Context, opts ScaleOptions) (ScaleResult, error)
	// Snapshot runs one snapshot measurement, in a process of its own for
	// the same reason.
	Snapshot func(ctx context.Context, opts SnapshotOptions) (SnapshotResult, error)
	// Command is how the run was started, for the report.
	Command string
}

// counts are the sample sizes of a run.
type counts struct {
	fsync, rtt, httpRTT, commit, transfer, hooks int
	overheadRuns                                 int
	handoffs                                     int
	kills                                        int
	scaleMembers, scaleRuns                      int
	ansibleHosts, ansibleRuns                    int
	snapshotMembers                              []int
	snapshotTakes, snapshotSends                 int
}

var (
	fullCounts  = counts{500, 5000, 2000, 500, 50, 100, 30, 200, 50, 10000, 3, 5, 3, []int{10000, 100000}, 3, 3}
	quickCounts = counts{100, 500, 200, 100, 10, 20, 3, 10, 3, 2000, 1, 3, 1, []int{2000, 10000}, 1, 1}
)

// Section ids.
const (
	SecLimits   = "limits"
	SecOverhead = "overhead"
	SecHandoff  = "handoff"
	SecRecovery = "recovery"
	SecScale    = "scale"
	SecAnsible  = "ansible"
	SecSnapshot = "snapshot"
)

// Run measures every selected section and returns the report. A section
// that fails records its error in its rows; the others still run.
func Run(ctx context.Context, cfg Config) *Report {
	n := fullCounts
	if cfg.Quick {
		n = quickCounts
	}
	r := &Report{Command: cfg.Command, Started: time.Now(), Machine: DescribeMachine(cfg.DataDir)}
	s := &suite{cfg: cfg, n: n, r: r, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
	s.limits(ctx)
	for _, sec := range []struct {
		id  string
		run func(context.Context)
	}{
		{SecOverhead, s.overhead}, {SecHandoff, s.handoff}, {SecRecovery, s.recovery},
		{SecScale, s.scale}, {SecAnsible, s.ansible}, {SecSnapshot, s.snapshot},
		{SecGateway, s.gateway},
	} {
		if len(cfg.Only) == 0 || cfg.Only[sec.id] {
			sec.run(ctx)
		}
	}
	r.Took = time.Since(r.Started).Round(time.Second).String()
	r.Machine.LoadEnd = loadAverage()
	return r
}

type suite struct {
	cfg Config
	n   counts
	r   *Report
	rng *rand.Rand
	// limits measured in this run, medians in ms
	rtt, hooks, node float64
	commit           map[int]float64 // by Baton cluster size
	overheads        map[int]OverheadResult
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (s *suite) add(row Row) {
	s.r.Rows = append(s.r.Rows, row)
	status := ""
	if row.Met != nil {
		status = map[bool]string{true: " [target met]", false: " [target NOT met]"}[*row.Met]
	}
	if row.Err != "" {
		s.logf("  %s: ERROR %s", row.Name, row.Err)
		return
	}
	s.logf("  %s: median %s %s, p99 %s (n=%d)%s", row.Name, num(row.Summary.Median), row.Unit, num(row.Summary.P99), row.Summary.N, status)
}

// sample adds a row of durations, or the error that stopped them.
func (s *suite) sample(section, name string, ds []time.Duration, err error, target *Target, note string) Summary {
	if err != nil {
		s.add(FailedRow(section, name, "ms", target, err))
		return Summary{}
	}
	row := NewRow(section, name, "ms", msAll(ds), target, note)
	s.add(row)
	return row.Summary
}

func (s *suite) dir(name string) string {
	d := filepath.Join(s.cfg.DataDir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		s.logf("mkdir %s: %v", d, err)
	}
	return d
}

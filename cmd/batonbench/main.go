// Command batonbench measures Baton against its limits and writes
// docs/benchmarks.md and docs/benchmarks.json. `make bench` runs it; see
// package internal/bench for what is measured and how.
//
//	batonbench [-quick] [-only overhead,handoff] [-merge] [-md FILE] [-json FILE] [-gobench FILE]
//	batonbench scale -members N -max-parallel N -runs N -dir DIR   (one scale run, JSON on stdout)
//	batonbench snapshot -members N -takes N -sends N -dir DIR -bin BATON   (one snapshot run, JSON on stdout)
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/internal/bench"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// optimisations is the page's closing section: what was changed because
// of these figures, with before and after.
//
//go:embed optimisations.md
var optimisations string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "scale":
		err = scaleChild(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "snapshot":
		err = snapshotChild(ctx, os.Args[2:])
	default:
		err = run(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "batonbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("batonbench", flag.ContinueOnError)
	md := fs.String("md", "docs/benchmarks.md", "write the Markdown report to `FILE`")
	js := fs.String("json", "docs/benchmarks.json", "write the JSON report to `FILE`")
	gobench := fs.String("gobench", "", "include the output of `go test -bench` from `FILE`")
	quick := fs.Bool("quick", false, "take few samples: a smoke run, not figures to publish")
	only := fs.String("only", "", "comma-separated `SECTIONS` to run: overhead, handoff, recovery, scale, ansible, snapshot, gateway (limits always run)")
	merge := fs.Bool("merge", false, "keep the sections (and Go benchmarks) of the existing -json report that this run does not measure")
	dataDir := fs.String("data-dir", "", "`DIR` for every data directory (default: a new temporary directory, removed at the end)")
	seed := fs.Uint64("seed", 1, "seed for the moments of the kills")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root := *dataDir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "batonbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	fmt.Fprintf(os.Stderr, "batonbench: building baton; data under %s\n", root)
	bin, err := procs.Build(root, procs.BuildOptions{Version: "1.0.0", ProtocolMin: 1, ProtocolMax: 1})
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := bench.Config{Bin: bin, DataDir: root, Log: os.Stderr, Quick: *quick, Seed: *seed, Only: map[string]bool{},
		Command: commandLine(args), Scale: func(ctx context.Context, o bench.ScaleOptions) (bench.ScaleResult, error) {
			return runScaleChild(ctx, self, o)
		}, Snapshot: func(ctx context.Context, o bench.SnapshotOptions) (bench.SnapshotResult, error) {
			return runSnapshotChild(ctx, self, o)
		}}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Only[s] = true
		}
	}
	report := bench.Run(ctx, cfg)
	if *gobench != "" {
		f, err := os.Open(*gobench)
		if err != nil {
			return err
		}
		report.GoBench, err = bench.ParseGoBench(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", *gobench, err)
		}
	}
	if *merge {
		old, err := bench.ReadReport(*js)
		if err != nil {
			return fmt.Errorf("-merge: %w", err)
		}
		report.MergeFrom(old)
	}
	report.Appendix = optimisations
	if err := os.WriteFile(*md, []byte(report.Markdown()), 0o644); err != nil {
		return err
	}
	if err := report.WriteJSON(*js); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "batonbench: wrote %s and %s in %s\n", *md, *js, report.Took)
	return nil
}

// commandLine is how the report says it was produced.
func commandLine(args []string) string {
	if os.Getenv("BATONBENCH_VIA_MAKE") != "" {
		return "make bench"
	}
	return strings.TrimSpace("batonbench " + strings.Join(args, " "))
}

// runScaleChild runs `batonbench scale` in a process of its own, so the
// peak memory it reports is the scale run's alone.
func runScaleChild(ctx context.Context, self string, o bench.ScaleOptions) (bench.ScaleResult, error) {
	var res bench.ScaleResult
	ctx, cancel := context.WithTimeout(ctx, o.Limit+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "scale", "-members", strconv.Itoa(o.Members), "-max-parallel", strconv.Itoa(o.MaxParallel),
		"-runs", strconv.Itoa(o.Runs), "-dir", o.Dir, "-limit", o.Limit.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("scale run: %w", err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("scale run: decode: %w", err)
	}
	return res, nil
}

func scaleChild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("batonbench scale", flag.ContinueOnError)
	var o bench.ScaleOptions
	fs.IntVar(&o.Members, "members", 10000, "catalogue size")
	fs.IntVar(&o.MaxParallel, "max-parallel", 100, "max-parallel of the transaction")
	fs.IntVar(&o.Runs, "runs", 1, "transactions to run")
	fs.StringVar(&o.Dir, "dir", "", "data `DIR` (required)")
	fs.DurationVar(&o.Limit, "limit", 4*time.Minute, "bound on the whole run")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Dir == "" {
		return fmt.Errorf("scale: -dir is required")
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := bench.Scale(ctx, o)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// runSnapshotChild runs `batonbench snapshot` in a process of its own, so
// the memory it reports is the snapshot run's alone.
func runSnapshotChild(ctx context.Context, self string, o bench.SnapshotOptions) (bench.SnapshotResult, error) {
	var res bench.SnapshotResult
	ctx, cancel := context.WithTimeout(ctx, o.Limit+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "snapshot", "-members", strconv.Itoa(o.Members), "-takes", strconv.Itoa(o.Takes),
		"-sends", strconv.Itoa(o.Sends), "-dir", o.Dir, "-bin", o.Bin, "-limit", o.Limit.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("snapshot run: %w", err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("snapshot run: decode: %w", err)
	}
	return res, nil
}

func snapshotChild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("batonbench snapshot", flag.ContinueOnError)
	var o bench.SnapshotOptions
	fs.IntVar(&o.Members, "members", 10000, "catalogue size")
	fs.IntVar(&o.Takes, "takes", 3, "snapshots to take")
	fs.IntVar(&o.Sends, "sends", 3, "followers to send the snapshot to")
	fs.StringVar(&o.Dir, "dir", "", "data `DIR` (required)")
	fs.StringVar(&o.Bin, "bin", "", "the baton `BINARY` the followers run (required)")
	fs.DurationVar(&o.Limit, "limit", 6*time.Minute, "bound on the whole run")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Dir == "" || o.Bin == "" {
		return fmt.Errorf("snapshot: -dir and -bin are required")
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := bench.Snapshots(ctx, o)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

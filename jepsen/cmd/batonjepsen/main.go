// Command batonjepsen runs Baton's chaos suite (package jepsen) once and
// exits non-zero on any invariant violation. `make jepsen` runs it.
//
// With network namespaces available (root, iproute2, iptables) it builds
// the suite's private network, runs itself again inside the control
// namespace, and tears the network down when that run ends, however it
// ends. Without them it says so loudly, drops the partition nemeses, and
// runs the agents on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/jepsen"
	"github.com/baton-upgrade/baton/jepsen/lazyfs"
	"github.com/baton-upgrade/baton/jepsen/nemesis"
	"github.com/baton-upgrade/baton/jepsen/netns"
)

type flags struct {
	duration       string
	nodes          int
	nemeses        string
	seed           int64
	out            string
	network        string
	binaryUpgrades bool
	settle         time.Duration
	inNetns        string
	recheck        string
	tls            bool
	powerLossMax   int
}

func main() {
	os.Exit(run())
}

func run() int {
	var f flags
	flag.StringVar(&f.duration, "duration", "10m", "how long faults and clients run (a duration, or seconds)")
	flag.IntVar(&f.nodes, "nodes", 5, "agents in the cluster: 3, 5 or 7")
	flag.StringVar(&f.nemeses, "nemeses", "all", "faults: all, none, or a comma list of "+nemesis.Names(nemesis.All())+" and the groups kill, partition, hooks, disk")
	flag.Int64Var(&f.seed, "seed", 0, "seed of the fault schedule and the clients (0: pick one and print it)")
	flag.StringVar(&f.out, "out", "out/jepsen", "directory for the history, result, report and cluster files")
	flag.StringVar(&f.network, "network", "auto", "auto (namespaces when possible), netns (required), or loopback")
	flag.BoolVar(&f.binaryUpgrades, "binary-upgrades", true, "restart each upgraded agent with the build of its new version, so protocol versions rise")
	flag.DurationVar(&f.settle, "settle", 2*time.Minute, "I7's bound: every transaction ends this long after the last fault healed")
	flag.StringVar(&f.inNetns, "in-netns", "", "internal: the layout file of the namespaces this run is inside")
	flag.BoolVar(&f.tls, "tls", false, "run the agents with TLS: Raft over mutual TLS and the API over HTTPS, certificates from a throwaway CA")
	flag.IntVar(&f.powerLossMax, "power-loss-max", 0, "how many agents one power-loss may take at once (0: a minority)")
	flag.StringVar(&f.recheck, "recheck", "", "run the checkers again over the output `DIR` of an earlier run, and exit")
	flag.Parse()
	if f.recheck != "" {
		return recheck(f.recheck)
	}

	duration, err := parseDuration(f.duration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 2
	}
	kinds, err := nemesis.Parse(f.nemeses)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 2
	}
	if f.nodes != 3 && f.nodes != 5 && f.nodes != 7 {
		fmt.Fprintln(os.Stderr, "batonjepsen: -nodes must be 3, 5 or 7")
		return 2
	}
	if f.seed == 0 {
		f.seed = rand.New(rand.NewSource(time.Now().UnixNano())).Int63n(1_000_000_000) + 1
	}
	if f.out, err = filepath.Abs(f.out); err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 1
	}
	if f.inNetns != "" {
		return suite(f, duration, kinds, nil)
	}
	logf("seed %d: replay this run with: %s", f.seed, reproduce(f))
	if err := os.RemoveAll(f.out); err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 1
	}
	if f.network == "loopback" {
		return suite(f, duration, withoutPartitions(kinds), []string{"network: loopback, as asked; partition nemeses skipped"})
	}
	if err := netns.Check(); err != nil {
		if f.network == "netns" {
			fmt.Fprintln(os.Stderr, "batonjepsen:", err)
			return 1
		}
		note := fmt.Sprintf("network namespaces cannot be made here (%v): PARTITION NEMESES SKIPPED, agents on loopback", err)
		fmt.Fprintln(os.Stderr, "batonjepsen: WARNING: "+note)
		return suite(f, duration, withoutPartitions(kinds), []string{note})
	}
	return inNamespaces(f)
}

// inNamespaces builds the network, runs the suite again inside the control
// namespace, and tears the network down whatever happens.
func inNamespaces(f flags) int {
	if removed := netns.CleanStale(); len(removed) > 0 {
		logf("removed namespaces left by dead runs: %v", removed)
	}
	var ids []string
	for i := 1; i <= f.nodes; i++ {
		ids = append(ids, fmt.Sprintf("n%d", i))
	}
	layout, err := netns.Setup(netns.Prefix(), ids)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen: build the network:", err)
		return 1
	}
	defer func() {
		if err := layout.Teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "batonjepsen: tear the network down:", err)
		} else {
			logf("network namespaces %s-* removed", layout.Prefix)
		}
	}()
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 1
	}
	layoutPath := filepath.Join(f.out, "netns.json")
	if err := layout.Save(layoutPath); err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 1
	}
	args := []string{"ip", "netns", "exec", layout.Ctl, self}
	args = append(args, childArgs(f, layoutPath)...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen: run inside the namespace:", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "batonjepsen:", err)
				return 1
			}
			return 0
		}
	}
}

func childArgs(f flags, layoutPath string) []string {
	return []string{"-duration", f.duration, "-nodes", strconv.Itoa(f.nodes), "-nemeses", f.nemeses,
		"-seed", strconv.FormatInt(f.seed, 10), "-out", f.out, "-binary-upgrades=" + strconv.FormatBool(f.binaryUpgrades),
		"-settle", f.settle.String(), "-power-loss-max", strconv.Itoa(f.powerLossMax), "-in-netns", layoutPath, "-tls=" + strconv.FormatBool(f.tls)}
}

// suite runs the chaos suite in this process and prints the summary.
// Where FUSE cannot be used it says so loudly and drops the disk nemeses.
func suite(f flags, duration time.Duration, kinds []nemesis.Kind, notes []string) int {
	if f.tls {
		notes = append(notes, "TLS: Raft over mutual TLS and the API over HTTPS, with certificates of a throwaway CA")
	}
	if nemesis.AnyDisk(kinds) {
		if err := lazyfs.Available(); err != nil {
			note := fmt.Sprintf("%v: DISK NEMESES (power-loss, disk-full, fsync-fail) SKIPPED", err)
			fmt.Fprintln(os.Stderr, "batonjepsen: WARNING: "+note)
			notes = append(notes, note)
			kinds = withoutDisks(kinds)
		}
	}
	cfg := jepsen.Config{Duration: duration, Nodes: f.nodes, Nemeses: kinds, Seed: f.seed, Out: f.out,
		SettleBound: f.settle, BinaryUpgrades: f.binaryUpgrades, PowerLossMax: f.powerLossMax, TLS: f.tls, Command: reproduce(f),
		Notes: notes, Logf: logf}
	if f.inNetns != "" {
		layout, err := netns.Load(f.inNetns)
		if err != nil {
			fmt.Fprintln(os.Stderr, "batonjepsen:", err)
			return 1
		}
		cfg.Net = layout
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := jepsen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 1
	}
	fmt.Println()
	res.WriteSummary(os.Stdout)
	fmt.Printf("\nhistory, result.json and report.md are in %s\n", f.out)
	if n := res.Violations(); n > 0 {
		fmt.Printf("\n%d VIOLATION(S): the run failed; replay it with:\n  %s\n", n, res.Command)
		return 1
	}
	fmt.Println("\nno violations")
	return 0
}

// recheck judges an earlier run's files again.
func recheck(dir string) int {
	results, err := jepsen.Recheck(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batonjepsen:", err)
		return 1
	}
	failed := 0
	for _, r := range results {
		line := fmt.Sprintf("%-5s %-7s %6d  %s", r.Invariant, strings.ToUpper(string(r.Status)), r.Checked, r.Name)
		if r.Violation != nil {
			line += "\n      " + r.Violation.String()
		}
		if r.Status != "pass" {
			failed++
		}
		fmt.Println(line)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func withoutPartitions(kinds []nemesis.Kind) []nemesis.Kind {
	var out []nemesis.Kind
	for _, k := range kinds {
		if !k.IsPartition() {
			out = append(out, k)
		}
	}
	return out
}

func withoutDisks(kinds []nemesis.Kind) []nemesis.Kind {
	var out []nemesis.Kind
	for _, k := range kinds {
		if !k.IsDisk() {
			out = append(out, k)
		}
	}
	return out
}

// reproduce is the command line that replays this run.
func reproduce(f flags) string {
	cmd := fmt.Sprintf("make jepsen SEED=%d DURATION=%s NODES=%d NEMESES=%s", f.seed, f.duration, f.nodes, f.nemeses)
	if f.tls {
		cmd += " TLS=1"
	}
	return cmd
}

// parseDuration reads "10m", "150s" or a plain number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("-duration %q: want a duration such as 10m, or seconds", s)
	}
	return d, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

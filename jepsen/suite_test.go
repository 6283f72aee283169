package jepsen_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestChaosShortRun runs the chaos suite for 150 seconds with a fixed seed
// and every nemesis this machine allows (partitions need root, iproute2 and
// iptables; without them the suite says so and skips only those), on three
// agents, and fails on any invariant violation. `make jepsen` runs the long
// version.
func TestChaosShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes about four minutes; -short skips it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "batonjepsen")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", bin, "./cmd/batonjepsen")
	build.Dir = filepath.Dir(file)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	outDir := filepath.Join(dir, "out")
	cmd := exec.CommandContext(ctx, bin, "-duration", "150s", "-nodes", "3", "-nemeses", "all",
		"-seed", "20261122", "-settle", "90s", "-out", outDir)
	// On the deadline, SIGTERM lets the suite heal, stop its agents and tear
	// its namespaces down; SIGKILL only a minute later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err = cmd.Run()
	t.Logf("chaos run output:\n%s", log.String())
	if err != nil {
		if report, rerr := os.ReadFile(filepath.Join(outDir, "report.md")); rerr == nil {
			t.Logf("report:\n%s", report)
		}
	}
	require.NoError(t, err, "the chaos run found violations or could not run (replay: make jepsen SEED=20261122 DURATION=150s NODES=3)")
}

package integration

import (
	"fmt"
	"os"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// batonBin is the baton binary built once for the whole test run: version
// 1.0.0, speaking the newest protocol of the source and the one before, as
// `make baton` stamps it. buildDir holds it and any other build a test
// makes.
var batonBin, buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "baton-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	batonBin, err = procs.Build(dir, procs.BuildOptions{Version: "1.0.0", ProtocolMin: fsm.LatestProtocol - 1, ProtocolMax: fsm.LatestProtocol})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

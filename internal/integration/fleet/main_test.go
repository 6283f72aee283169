package fleet

import (
	"fmt"
	"os"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// batonBin is the baton binary built once for the package.
var batonBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "baton-fleet-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	batonBin, err = procs.Build(dir, procs.BuildOptions{Version: "1.0.0", ProtocolMin: fsm.LatestProtocol - 1, ProtocolMax: fsm.LatestProtocol})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

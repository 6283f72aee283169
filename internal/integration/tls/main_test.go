package tls

import (
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// batonBin is the baton binary built once for the package, as `make baton`
// stamps it.
var batonBin string

func TestMain(m *testing.M) {
	procs.RunTests(m, "baton-integration-tls-", func(dir string) (err error) {
		batonBin, err = procs.Build(dir, procs.BuildOptions{Version: "1.0.0", ProtocolMin: fsm.LatestProtocol - 1, ProtocolMax: fsm.LatestProtocol})
		return err
	})
}

package harness

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/baton-upgrade/baton/jepsen/procs"
)

// Build is a baton binary stamped with a version and a protocol range.
type Build struct {
	Path        string
	Version     string
	ProtocolMin int
	ProtocolMax int
}

// BuildFor returns the build of version ("K.0.0"): protocol range
// [max(1,K-1), K], as `make baton PROTOCOL=K` stamps it. With binary
// upgrades off every version runs the base build (1.0.0, protocol 1).
func (c *Cluster) BuildFor(version string) (Build, error) {
	k := 1
	if c.opts.BinaryUpgrades {
		k = major(version)
	}
	o := procs.BuildOptions{Version: fmt.Sprintf("%d.0.0", k), ProtocolMin: max(1, k-1), ProtocolMax: k}
	path, err := procs.Build(c.buildDir, o)
	if err != nil {
		return Build{}, err
	}
	return Build{Path: path, Version: o.Version, ProtocolMin: o.ProtocolMin, ProtocolMax: o.ProtocolMax}, nil
}

// major is the leading number of a version such as 3.0.0 (1 when there is
// none).
func major(version string) int {
	head, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	k, err := strconv.Atoi(head)
	if err != nil || k < 1 {
		return 1
	}
	return k
}

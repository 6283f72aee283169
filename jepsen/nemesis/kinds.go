package nemesis

import (
	"fmt"
	"sort"
	"strings"
)

// Kind names a fault.
type Kind string

// The faults.
const (
	KillLeader        Kind = "kill-leader"
	KillRandom        Kind = "kill-random"
	KillStep          Kind = "kill-step"
	Pause             Kind = "pause"
	PartitionMajority Kind = "partition-majority"
	PartitionLeader   Kind = "partition-leader"
	PartitionBridge   Kind = "partition-bridge"
	HookFail          Kind = "hook-fail"
	HookHang          Kind = "hook-hang"
	// Lag keeps a node down (cut off where partitions are available,
	// killed otherwise) until the others' log has moved past it and been
	// compacted, so that it must catch up by InstallSnapshot.
	Lag Kind = "lag"
)

// All lists every fault.
func All() []Kind {
	return []Kind{KillLeader, KillRandom, KillStep, Pause, PartitionMajority, PartitionLeader, PartitionBridge, Lag, HookFail, HookHang}
}

// groups are shorthands accepted by Parse.
var groups = map[string][]Kind{
	"kill":      {KillLeader, KillRandom, KillStep},
	"partition": {PartitionMajority, PartitionLeader, PartitionBridge},
	"hooks":     {HookFail, HookHang},
}

// IsPartition reports whether k needs network namespaces.
func (k Kind) IsPartition() bool {
	return k == PartitionMajority || k == PartitionLeader || k == PartitionBridge
}

// IsHook reports whether k is a hook fault (it runs in its own lane, so it
// combines with the others).
func (k Kind) IsHook() bool { return k == HookFail || k == HookHang }

// Parse reads a NEMESES value: "all", "none", or a comma list of faults and
// groups (kill, partition, hooks).
func Parse(spec string) ([]Kind, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "all" {
		return All(), nil
	}
	if spec == "none" {
		return nil, nil
	}
	seen := map[Kind]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if g, ok := groups[name]; ok {
			for _, k := range g {
				seen[k] = true
			}
			continue
		}
		k := Kind(name)
		known := false
		for _, a := range All() {
			known = known || a == k
		}
		if !known {
			return nil, fmt.Errorf("unknown nemesis %q (want all, none, kill, partition, hooks, or any of %v)", name, All())
		}
		seen[k] = true
	}
	var out []Kind
	for _, k := range All() {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// Names joins kinds for display.
func Names(kinds []Kind) string {
	var s []string
	for _, k := range kinds {
		s = append(s, string(k))
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

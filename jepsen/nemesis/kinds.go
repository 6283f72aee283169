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
	// PowerLoss kills one agent (now and then two or three, a minority)
	// and drops every write of its data dir not covered by an fsync.
	PowerLoss Kind = "power-loss"
	// DiskFull makes an agent's writes fail with ENOSPC for a while.
	DiskFull Kind = "disk-full"
	// FsyncFail makes an agent's fsyncs fail with EIO for a while.
	FsyncFail Kind = "fsync-fail"
)

// All lists every fault.
func All() []Kind {
	return []Kind{KillLeader, KillRandom, KillStep, Pause, PartitionMajority, PartitionLeader, PartitionBridge, Lag, HookFail, HookHang,
		PowerLoss, DiskFull, FsyncFail}
}

// groups are shorthands accepted by Parse.
var groups = map[string][]Kind{
	"kill":      {KillLeader, KillRandom, KillStep},
	"partition": {PartitionMajority, PartitionLeader, PartitionBridge},
	"hooks":     {HookFail, HookHang},
	"disk":      {PowerLoss, DiskFull, FsyncFail},
}

// IsPartition reports whether k needs network namespaces.
func (k Kind) IsPartition() bool {
	return k == PartitionMajority || k == PartitionLeader || k == PartitionBridge
}

// IsDisk reports whether k needs the lazy file system (FUSE).
func (k Kind) IsDisk() bool { return k == PowerLoss || k == DiskFull || k == FsyncFail }

// AnyDisk reports whether kinds hold a disk fault.
func AnyDisk(kinds []Kind) bool {
	for _, k := range kinds {
		if k.IsDisk() {
			return true
		}
	}
	return false
}

// IsHook reports whether k is a hook fault (it runs in its own lane, so it
// combines with the others).
func (k Kind) IsHook() bool { return k == HookFail || k == HookHang }

// Parse reads a NEMESES value: "all", "none", or a comma list of faults and
// groups (kill, partition, hooks, disk).
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
			return nil, fmt.Errorf("unknown nemesis %q (want all, none, kill, partition, hooks, disk, or any of %v)", name, All())
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

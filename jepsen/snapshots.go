package jepsen

import (
	"fmt"
	"sort"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// snapshotCheck fails a run in which no agent installed a snapshot from a
// leader: such a run never exercised the path by which a node that was
// down through many commits comes back (InstallSnapshot, then a restore
// of the whole state under a running transaction), so its checks say
// nothing about it.
func snapshotCheck(activity map[string]procs.SnapshotActivity, end time.Time) checker.Result {
	r := checker.Result{Invariant: "SNAP", Name: "a lagging node catches up by snapshot", Status: checker.Pass}
	var taken, installed int
	var nodes []string
	for id, a := range activity {
		taken += a.Taken
		installed += a.Installed
		if a.Installed > 0 {
			nodes = append(nodes, id)
		}
	}
	sort.Strings(nodes)
	r.Checked = installed
	if installed == 0 {
		r.Status = checker.Fail
		r.Violation = &checker.Violation{At: end, What: fmt.Sprintf("no agent installed a snapshot from a leader "+
			"(%d snapshots taken): the run did not exercise InstallSnapshot; the lag nemesis makes a node need one", taken)}
		return r
	}
	r.Note = fmt.Sprintf("%d installs on %v; %d snapshots taken", installed, nodes, taken)
	return r
}

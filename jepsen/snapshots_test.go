package jepsen

import (
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

func TestSnapshotCheckFailsARunWithoutAnInstall(t *testing.T) {
	end := time.Unix(1800000000, 0)
	r := snapshotCheck(map[string]procs.SnapshotActivity{"n1": {Taken: 5, SendsTried: 0}, "n2": {Taken: 4}}, end)
	require.Equal(t, checker.Fail, r.Status)
	require.NotNil(t, r.Violation)
	require.Equal(t, end, r.Violation.At)
	require.Contains(t, r.Violation.What, "no agent installed a snapshot")
	require.Contains(t, r.Violation.What, "9 snapshots taken")

	r = snapshotCheck(map[string]procs.SnapshotActivity{"n1": {Taken: 5, SendsTried: 2}, "n3": {Installed: 2}, "n2": {Installed: 1}}, end)
	require.Equal(t, checker.Pass, r.Status)
	require.Equal(t, 3, r.Checked)
	require.Equal(t, "3 installs on [n2 n3]; 5 snapshots taken", r.Note)
}

package node

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/stretchr/testify/require"
)

func openGuarded(t *testing.T) (*guardedStore, *[]error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), raftDBFile)
	s, err := raftboltdb.NewBoltStore(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	var told []error
	return &guardedStore{s: s, path: path, onFail: func(err error) { told = append(told, err) }}, &told
}

// TestRaftStoreWriteFailureFences: a write the disk refuses stops the
// agent (onFail, once) and fences the store, where hashicorp/raft alone
// would answer the append with a failure and take the next one.
func TestRaftStoreWriteFailureFences(t *testing.T) {
	g, told := openGuarded(t)
	require.NoError(t, g.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Data: []byte("a")}}))
	_, err := g.GetUint64([]byte("CurrentTerm"))
	require.Error(t, err, "a missing key is the store's answer")
	require.Empty(t, *told, "nor is it a failure")

	failWrites(t, g.path)
	err = g.StoreLogs([]*raft.Log{{Index: 2, Term: 1, Data: []byte("b")}})
	require.Error(t, err)
	require.Len(t, *told, 1)
	require.Contains(t, (*told)[0].Error(), g.path)

	var l raft.Log
	require.ErrorIs(t, g.GetLog(1, &l), err, "a fenced store is not read again")
	require.ErrorIs(t, g.SetUint64([]byte("CurrentTerm"), 2), err)
	require.Len(t, *told, 1, "the agent is told once")
}

// TestRaftStorePanicIsDamage: a panic inside bbolt becomes ErrDamagedStore
// naming the file, not a crash.
func TestRaftStorePanicIsDamage(t *testing.T) {
	g, told := openGuarded(t)
	var err error
	require.NotPanics(t, func() {
		err = g.read("read", func() error { panic("page 7: invalid page type: 0") })
	})
	require.ErrorIs(t, err, ErrDamagedStore)
	require.Contains(t, err.Error(), g.path)
	require.Len(t, *told, 1)
}

// failWrites puts a read-only descriptor of /dev/null in place of this
// process's descriptor of path, so that bbolt's next write fails.
func failWrites(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	ro, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer ro.Close()
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || target != path {
			continue
		}
		var fd int
		_, err = fmt.Sscan(e.Name(), &fd)
		require.NoError(t, err)
		require.NoError(t, syscall.Dup2(int(ro.Fd()), fd))
		return
	}
	t.Fatalf("no descriptor of %s", path)
}

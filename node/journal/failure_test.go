package journal

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDamageWhileRunningIsAClearStop garbles the journal's pages under an
// open journal (a disk going bad, or another process writing into it): a
// read that makes bbolt panic returns ErrDamaged naming the file, the owner
// is told once, and every later call fails the same way without touching
// the file.
func TestDamageWhileRunningIsAClearStop(t *testing.T) {
	var told []error
	j, path := openTemp(t, Options{OnFailure: func(err error) { told = append(told, err) }})
	for i := range 20 {
		_, _, err := j.Begin(step("txn-"+string(rune('a'+i)), 1))
		require.NoError(t, err)
	}
	garble(t, path)

	var first error
	require.NotPanics(t, func() { _, first = j.Unfinished() })
	require.ErrorIs(t, first, ErrDamaged)
	require.Contains(t, first.Error(), path)
	require.Len(t, told, 1)

	_, _, err := j.Begin(step("txn-later", 1))
	require.ErrorIs(t, err, ErrDamaged, "a fenced journal refuses writes too")
	_, err = j.Get(step("txn-a", 1).Key())
	require.ErrorIs(t, err, ErrDamaged)
	require.Len(t, told, 1, "the owner is told once")
}

// TestFailedCommitFencesTheJournal makes a commit fail underneath bbolt
// (its file descriptor closed, as a disk that refuses every write): the
// call returns ErrWriteFailed, the owner is told, and later reads are
// refused too, since what bbolt shows after a failed write or fsync may not
// be what the disk holds.
func TestFailedCommitFencesTheJournal(t *testing.T) {
	var told []error
	j, _ := openTemp(t, Options{OnFailure: func(err error) { told = append(told, err) }})
	key := step("txn-1", 1).Key()
	_, _, err := j.Begin(step("txn-1", 1))
	require.NoError(t, err)

	j.failWritesForTest(t)
	err = j.HookBegin(key, "install")
	require.ErrorIs(t, err, ErrWriteFailed)
	require.Len(t, told, 1)
	_, err = j.Get(key)
	require.ErrorIs(t, err, ErrWriteFailed)

	// A refusal of the caller's own making is not a failure of the disk.
	j2, _ := openTemp(t, Options{OnFailure: func(err error) { t.Fatalf("told of %v", err) }})
	require.ErrorIs(t, j2.MarkAcked(key), ErrNotFound)
}

// garble overwrites every page after the two meta pages with 0xff.
func garble(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	page := int64(os.Getpagesize())
	_, err = f.WriteAt(bytes.Repeat([]byte{0xff}, int(fi.Size()-2*page)), 2*page)
	require.NoError(t, err)
}

// failWritesForTest puts a read-only descriptor of /dev/null in place of
// the journal file's descriptor, so that bbolt's next write fails.
func (j *Journal) failWritesForTest(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	ro, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer ro.Close()
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || target != j.path {
			continue
		}
		var fd int
		_, err = fmt.Sscan(e.Name(), &fd)
		require.NoError(t, err)
		require.NoError(t, syscall.Dup2(int(ro.Fd()), fd))
		return
	}
	t.Fatalf("no descriptor of %s", j.path)
}

package lazyfs

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// mounted mounts a fresh lazy file system for a test, or skips where FUSE
// cannot be used.
func mounted(t *testing.T) *FS {
	t.Helper()
	NeedFUSE(t)
	root := t.TempDir()
	f, err := New(filepath.Join(root, "disk"), filepath.Join(root, "mnt"))
	require.NoError(t, err)
	require.NoError(t, f.Mount())
	t.Cleanup(func() { _ = f.Unmount() })
	return f
}

func writeFile(t *testing.T, path string, data []byte, syncFile bool) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	_, err = fh.Write(data)
	require.NoError(t, err)
	if syncFile {
		require.NoError(t, fh.Sync())
	}
	require.NoError(t, fh.Close())
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Sync())
}

func powerLoss(t *testing.T, f *FS) Loss {
	t.Helper()
	loss, err := f.PowerLoss(nil)
	require.NoError(t, err)
	return loss
}

func TestSyncedDataSurvivesPowerLoss(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "a")
	writeFile(t, p, []byte("synced"), true)
	syncDir(t, f.Mountpoint())

	loss := powerLoss(t, f)
	require.Zero(t, loss.Files)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "synced", string(got))
}

func TestUnsyncedWritesAreLost(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "a")
	synced := bytes.Repeat([]byte("s"), 3*pageSize+100)
	writeFile(t, p, synced, true)
	syncDir(t, f.Mountpoint())

	// Overwrite a page in the middle and grow the file, without an fsync.
	fh, err := os.OpenFile(p, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.WriteAt(bytes.Repeat([]byte("u"), 10), pageSize+5)
	require.NoError(t, err)
	_, err = fh.WriteAt(bytes.Repeat([]byte("g"), 2*pageSize), int64(len(synced)))
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Len(t, got, len(synced)+2*pageSize, "the writes are visible before the power loss")

	loss := powerLoss(t, f)
	require.Equal(t, 1, loss.Files)
	got, err = os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, synced, got, "the file is back at its synced content and size")
}

func TestUnsyncedTruncateIsUndone(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "a")
	synced := bytes.Repeat([]byte("s"), 2*pageSize)
	writeFile(t, p, synced, true)
	syncDir(t, f.Mountpoint())
	require.NoError(t, os.Truncate(p, 10))

	powerLoss(t, f)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, synced, got)
}

func TestGrowthCanBeLeftAsAHole(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "a")
	writeFile(t, p, []byte("synced"), true)
	syncDir(t, f.Mountpoint())
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = fh.Write([]byte("unsynced"))
	require.NoError(t, err)
	require.NoError(t, fh.Close())

	loss, err := f.PowerLoss(rand.New(zeroSource{}))
	require.NoError(t, err)
	require.Equal(t, 1, loss.Holes)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, append([]byte("synced"), make([]byte, len("unsynced"))...), got,
		"the size reached the disk, the data did not")
}

// zeroSource makes rand.Intn return 0.
type zeroSource struct{}

func (zeroSource) Int63() int64 { return 0 }
func (zeroSource) Seed(int64)   {}

func TestCreateWithoutDirectorySyncIsUndone(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "new")
	writeFile(t, p, []byte("data"), true) // the file is synced, its entry is not

	loss := powerLoss(t, f)
	require.Equal(t, []string{"create new"}, loss.DirOps)
	_, err := os.Stat(p)
	require.True(t, errors.Is(err, os.ErrNotExist), "the create is undone: %v", err)
}

func TestCreateWithDirectorySyncStays(t *testing.T) {
	f := mounted(t)
	require.NoError(t, os.Mkdir(filepath.Join(f.Mountpoint(), "sub"), 0o700))
	syncDir(t, f.Mountpoint())
	p := filepath.Join(f.Mountpoint(), "sub", "new")
	writeFile(t, p, []byte("data"), true)
	syncDir(t, filepath.Join(f.Mountpoint(), "sub"))

	loss := powerLoss(t, f)
	require.Empty(t, loss.DirOps)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "data", string(got))
}

func TestRenameWithoutDirectorySyncIsUndone(t *testing.T) {
	f := mounted(t)
	dst := filepath.Join(f.Mountpoint(), "marker")
	tmp := dst + ".tmp"
	writeFile(t, dst, []byte("old"), true)
	writeFile(t, tmp, []byte("new"), true)
	syncDir(t, f.Mountpoint())
	require.NoError(t, os.Rename(tmp, dst))
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, "new", string(got))

	loss := powerLoss(t, f)
	require.Equal(t, []string{"rename marker.tmp marker"}, loss.DirOps)
	got, err = os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, "old", string(got), "the replaced file is back")
	got, err = os.ReadFile(tmp)
	require.NoError(t, err)
	require.Equal(t, "new", string(got), "the renamed file is back at its old name")
}

func TestRenameWithDirectorySyncStays(t *testing.T) {
	f := mounted(t)
	dst := filepath.Join(f.Mountpoint(), "marker")
	writeFile(t, dst+".tmp", []byte("new"), true)
	require.NoError(t, os.Rename(dst+".tmp", dst))
	syncDir(t, f.Mountpoint())

	powerLoss(t, f)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, "new", string(got))
	_, err = os.Stat(dst + ".tmp")
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestUnlinkWithoutDirectorySyncIsUndone(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "a")
	writeFile(t, p, []byte("kept"), true)
	syncDir(t, f.Mountpoint())
	require.NoError(t, os.Remove(p))

	powerLoss(t, f)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "kept", string(got))
}

func TestDiskFullAppearsAndClears(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "a")
	writeFile(t, p, []byte("before"), true)

	f.SetFull(true)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = fh.Write([]byte("more"))
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, fh.Close())
	_, err = os.Create(filepath.Join(f.Mountpoint(), "b"))
	require.ErrorIs(t, err, syscall.ENOSPC)

	f.SetFull(false)
	writeFile(t, filepath.Join(f.Mountpoint(), "b"), []byte("after"), true)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "before", string(got), "the refused write changed nothing")
}

func TestFsyncFailureAppearsAndClears(t *testing.T) {
	f := mounted(t)
	p := filepath.Join(f.Mountpoint(), "a")
	writeFile(t, p, []byte("synced"), true)
	syncDir(t, f.Mountpoint())

	f.SetFsyncFail(true)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	_, err = fh.Write([]byte("unsynced"))
	require.NoError(t, err)
	require.ErrorIs(t, fh.Sync(), syscall.EIO)
	require.NoError(t, fh.Close())
	d, err := os.Open(f.Mountpoint())
	require.NoError(t, err)
	require.ErrorIs(t, d.Sync(), syscall.EIO)
	d.Close()
	files, _ := f.Unsynced()
	require.Equal(t, 1, files, "a failed fsync leaves the write unsynced")

	f.SetFsyncFail(false)
	fh, err = os.OpenFile(p, os.O_WRONLY, 0)
	require.NoError(t, err)
	require.NoError(t, fh.Sync())
	require.NoError(t, fh.Close())
	powerLoss(t, f)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "unsynced", string(got), "once fsync works again, it makes the write durable")
}

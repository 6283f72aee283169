package lazyfs

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ErrUnavailable is returned by Mount where FUSE cannot be used (no
// /dev/fuse, or not allowed to mount).
var ErrUnavailable = errors.New("FUSE is not available")

// FS is a lazy file system mounted over a directory.
type FS struct {
	backing, mnt string
	p            *pending
	full         atomic.Bool
	fsyncFail    atomic.Bool

	mu     sync.Mutex
	server *fuse.Server
}

// New prepares a lazy file system that shows backing at mnt. Both
// directories are created when missing; the trash lives beside backing
// (backing + ".trash"), on the same file system.
func New(backing, mnt string) (*FS, error) {
	for _, dir := range []string{backing, mnt, backing + ".trash"} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return &FS{backing: backing, mnt: mnt, p: newPending(backing + ".trash")}, nil
}

// Available reports whether this process can mount a FUSE file system,
// and if not, why.
func Available() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	f.Close()
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: mounting needs root", ErrUnavailable)
	}
	return nil
}

// Mountpoint is where the file system is mounted.
func (f *FS) Mountpoint() string { return f.mnt }

// Backing is the directory that stands for the disk.
func (f *FS) Backing() string { return f.backing }

// Mount mounts the file system (a direct mount(2): it needs root and
// /dev/fuse, not fusermount).
func (f *FS) Mount() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server != nil {
		return nil
	}
	if err := Available(); err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(f.backing, &st); err != nil {
		return err
	}
	root := &fs.LoopbackRoot{Path: f.backing, Dev: uint64(st.Dev)}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, lfs: f}
	}
	root.RootNode = root.NewNode(root, nil, "", &st)
	timeout := time.Second
	server, err := fs.Mount(f.mnt, root.RootNode, &fs.Options{
		EntryTimeout: &timeout, AttrTimeout: &timeout, NegativeTimeout: &timeout,
		MountOptions: fuse.MountOptions{DirectMountStrict: true, FsName: "lazyfs:" + f.backing, Name: "lazyfs",
			AllowOther: true, DisableXAttrs: true},
	})
	if err != nil {
		return fmt.Errorf("mount lazyfs at %s: %w", f.mnt, err)
	}
	// Shared, so that an unmount reaches the copies of this mount in the
	// mount namespaces the agents run in (ip netns exec makes one each).
	_ = syscall.Mount("", f.mnt, "", syscall.MS_SHARED, "")
	f.server = server
	return nil
}

// Unmount unmounts the file system; pending writes stay pending. Nothing
// may use the mount. A mount still busy after a few tries is detached.
func (f *FS) Unmount() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unmountLocked()
}

func (f *FS) unmountLocked() error {
	if f.server == nil {
		return nil
	}
	var err error
	for try := 0; try < 20; try++ {
		if err = syscall.Unmount(f.mnt, 0); err == nil || errors.Is(err, syscall.EINVAL) {
			err = nil
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		if err = syscall.Unmount(f.mnt, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", f.mnt, err)
		}
	}
	done := make(chan struct{})
	server := f.server
	go func() { server.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// Another mount namespace still holds the connection (a process
		// the agent left running); its server ends with it.
	}
	f.server = nil
	return nil
}

// PowerLoss simulates a power cut: it unmounts, throws away every write
// and directory operation not covered by an fsync, and mounts again.
// Nothing may use the mount (kill its users first). rng decides, per file
// that grew, whether the growth is cut off or left as zeros; nil always
// cuts it off.
func (f *FS) PowerLoss(rng *rand.Rand) (Loss, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mounted := f.server != nil
	if err := f.unmountLocked(); err != nil {
		return Loss{}, err
	}
	loss, err := f.p.drop(rng)
	if err != nil {
		err = fmt.Errorf("power loss on %s: %w", f.backing, err)
	}
	if mounted {
		f.mu.Unlock()
		merr := f.Mount()
		f.mu.Lock()
		err = errors.Join(err, merr)
	}
	return loss, err
}

// SetFull makes writes, creates and growing truncates fail with ENOSPC
// (on) or work again (off).
func (f *FS) SetFull(on bool) { f.full.Store(on) }

// SetFsyncFail makes fsync of files and directories fail with EIO (on)
// or work again (off). What a failed fsync did not cover stays unsynced.
func (f *FS) SetFsyncFail(on bool) { f.fsyncFail.Store(on) }

// Unsynced counts the files with unsynced writes and the pending
// directory operations.
func (f *FS) Unsynced() (files, dirOps int) {
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	return len(f.p.files), len(f.p.ops)
}

// NeedFUSE skips test t, naming what is missing, where a lazy file system
// cannot be mounted (no /dev/fuse, or not root); but under .ci/run (CI
// set), which runs as root on machines with /dev/fuse, it fails the test
// instead: a skip there would prove nothing.
func NeedFUSE(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if procs.UnderCI() {
		t.Fatalf("lazy file system: %v (CI runs as root on machines with /dev/fuse)", err)
	}
	t.Skipf("lazy file system: %v: the disk-fault tests need root and /dev/fuse", err)
}

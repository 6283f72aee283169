package lazyfs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node whose changes are recorded so that a power loss
// can take back what was not synced.
type node struct {
	fs.LoopbackNode
	lfs *FS
}

var (
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeWriter         = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeAllocater      = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
)

// realPath is the node's path in the backing directory.
func (n *node) realPath() string {
	return filepath.Join(n.RootData.Path, n.Path(nil))
}

// ino is the backing inode number of the node's file.
func (n *node) ino() uint64 {
	var st syscall.Stat_t
	if err := syscall.Lstat(n.realPath(), &st); err != nil {
		return 0
	}
	return st.Ino
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// loopbackFile is what the loopback's file handle does, less its
// PassthroughFd: with passthrough, the kernel would read and write the
// backing file itself, and the writes would not be recorded.
type loopbackFile interface {
	fs.FileReader
	fs.FileWriter
	fs.FileReleaser
	fs.FileFlusher
	fs.FileFsyncer
	fs.FileGetlker
	fs.FileSetlker
	fs.FileSetlkwer
	fs.FileSetattrer
	fs.FileGetattrer
	fs.FileLseeker
	fs.FileAllocater
}

// file is an open file of the lazy file system.
type file struct {
	loopbackFile
	fd int
}

// wrap hides the loopback handle's passthrough.
func wrap(fh fs.FileHandle) fs.FileHandle {
	lf, ok := fh.(loopbackFile)
	if !ok {
		return fh
	}
	fd := -1
	if p, ok := fh.(fs.FilePassthroughFder); ok {
		if d, ok := p.PassthroughFd(); ok {
			fd = d
		}
	}
	return &file{loopbackFile: lf, fd: fd}
}

// handleFd is the backing descriptor of an open file, or -1.
func handleFd(f fs.FileHandle) int {
	if f, ok := f.(*file); ok {
		return f.fd
	}
	return -1
}

// withFd runs fn with a descriptor of the node's backing file: the
// handle's, or one opened for the call.
func (n *node) withFd(f fs.FileHandle, fn func(fd int) error) syscall.Errno {
	if fd := handleFd(f); fd >= 0 {
		return fs.ToErrno(fn(fd))
	}
	fd, err := syscall.Open(n.realPath(), syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer syscall.Close(fd)
	return fs.ToErrno(fn(fd))
}

// created records that the entry p was made in the directory n.
func (n *node) created(what, p string, isDir bool) {
	undo := func() error { return os.Remove(p) }
	if isDir {
		undo = func() error { return os.RemoveAll(p) }
	}
	n.lfs.p.add(dirOp{what: what + " " + n.rel(p), dirs: []uint64{n.ino()}, undo: undo})
}

// rel names p relative to the backing directory, for reports.
func (n *node) rel(p string) string {
	r, err := filepath.Rel(n.RootData.Path, p)
	if err != nil {
		return p
	}
	return r
}

// Create creates a file; the entry is pending until the directory is
// synced.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p := filepath.Join(n.realPath(), name)
	existed := exists(p)
	if !existed && n.lfs.full.Load() {
		return nil, nil, 0, syscall.ENOSPC
	}
	if existed && flags&syscall.O_TRUNC != 0 {
		if errno := n.truncateAt(p, 0); errno != 0 {
			return nil, nil, 0, errno
		}
	}
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if !existed {
		n.created("create", p, false)
	}
	return ch, wrap(fh), fl, 0
}

// truncateAt saves what truncating the file at p to size takes away.
func (n *node) truncateAt(p string, size int64) syscall.Errno {
	fd, err := syscall.Open(p, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer syscall.Close(fd)
	return fs.ToErrno(n.lfs.p.beforeTruncate(fd, p, size))
}

// Open opens the file; an O_TRUNC open is recorded as a truncate.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		if errno := n.truncateAt(n.realPath(), 0); errno != 0 {
			return nil, 0, errno
		}
	}
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return wrap(fh), fl, 0
}

// Write saves the synced content it overwrites, then writes through.
func (n *node) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if n.lfs.full.Load() {
		return 0, syscall.ENOSPC
	}
	w, ok := f.(fs.FileWriter)
	if !ok {
		return 0, syscall.EBADF
	}
	if errno := n.withFd(f, func(fd int) error {
		return n.lfs.p.beforeWrite(fd, n.realPath(), off, int64(len(data)))
	}); errno != 0 {
		return 0, errno
	}
	return w.Write(ctx, data, off)
}

// Allocate is recorded as a write of the range it changes.
func (n *node) Allocate(ctx context.Context, f fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	if n.lfs.full.Load() {
		return syscall.ENOSPC
	}
	a, ok := f.(fs.FileAllocater)
	if !ok {
		return syscall.ENOTSUP
	}
	if errno := n.withFd(f, func(fd int) error {
		return n.lfs.p.beforeWrite(fd, n.realPath(), int64(off), int64(size))
	}); errno != 0 {
		return errno
	}
	return a.Allocate(ctx, off, size, mode)
}

// Setattr records a truncate before it happens.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		errno := n.withFd(f, func(fd int) error {
			var st syscall.Stat_t
			if err := syscall.Fstat(fd, &st); err != nil {
				return err
			}
			if int64(size) > st.Size && n.lfs.full.Load() {
				return syscall.ENOSPC
			}
			return n.lfs.p.beforeTruncate(fd, n.realPath(), int64(size))
		})
		if errno != 0 {
			return errno
		}
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

// Fsync makes the file's writes durable (or, for a directory, its
// pending entries and every earlier directory operation). The backing
// directory stands for the disk, so nothing is synced below.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if n.lfs.fsyncFail.Load() {
		return syscall.EIO
	}
	if n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR {
		n.lfs.p.syncDir(n.ino())
		return 0
	}
	return n.withFd(f, n.lfs.p.syncFile)
}

// Mkdir makes a directory, pending until its parent is synced.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.lfs.full.Load() {
		return nil, syscall.ENOSPC
	}
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno == 0 {
		n.created("mkdir", filepath.Join(n.realPath(), name), true)
	}
	return ch, errno
}

// Mknod makes a node, pending until its directory is synced.
func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.lfs.full.Load() {
		return nil, syscall.ENOSPC
	}
	ch, errno := n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
	if errno == 0 {
		n.created("mknod", filepath.Join(n.realPath(), name), false)
	}
	return ch, errno
}

// Symlink makes a link, pending until its directory is synced.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.lfs.full.Load() {
		return nil, syscall.ENOSPC
	}
	ch, errno := n.LoopbackNode.Symlink(ctx, target, name, out)
	if errno == 0 {
		n.created("symlink", filepath.Join(n.realPath(), name), false)
	}
	return ch, errno
}

// Link makes a hard link, pending until its directory is synced.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.lfs.full.Load() {
		return nil, syscall.ENOSPC
	}
	ch, errno := n.LoopbackNode.Link(ctx, target, name, out)
	if errno == 0 {
		n.created("link", filepath.Join(n.realPath(), name), false)
	}
	return ch, errno
}

// Unlink moves the file to the trash; the trash is emptied when the
// unlink becomes durable, and the file put back if it is undone.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, false)
}

// Rmdir moves the empty directory to the trash, as Unlink does a file.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, true)
}

func (n *node) remove(name string, dir bool) syscall.Errno {
	p := filepath.Join(n.realPath(), name)
	st, err := os.Lstat(p)
	if err != nil {
		return fs.ToErrno(err)
	}
	if dir != st.IsDir() {
		if dir {
			return syscall.ENOTDIR
		}
		return syscall.EISDIR
	}
	if dir && !emptyDir(p) {
		return syscall.ENOTEMPTY
	}
	trash := n.lfs.p.trashPath()
	if err := os.Rename(p, trash); err != nil {
		return fs.ToErrno(err)
	}
	what := "unlink"
	if dir {
		what = "rmdir"
	}
	n.lfs.p.add(dirOp{what: what + " " + n.rel(p), dirs: []uint64{n.ino()},
		undo:   func() error { return os.Rename(trash, p) },
		commit: func() { _ = os.RemoveAll(trash) }})
	return 0
}

func emptyDir(p string) bool {
	d, err := os.Open(p)
	if err != nil {
		return false
	}
	defer d.Close()
	names, _ := d.Readdirnames(1)
	return len(names) == 0
}

// Rename renames through, keeping a replaced entry in the trash; it is
// pending until both directories are synced (either's fsync makes it and
// everything before it durable).
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	const renameNoReplace = 1
	if flags&^renameNoReplace != 0 {
		return syscall.EINVAL
	}
	from := filepath.Join(n.realPath(), name)
	to := filepath.Join(np.realPath(), newName)
	src, err := os.Lstat(from)
	if err != nil {
		return fs.ToErrno(err)
	}
	trash := ""
	if dst, err := os.Lstat(to); err == nil {
		if flags&renameNoReplace != 0 {
			return syscall.EEXIST
		}
		if os.SameFile(src, dst) {
			return 0
		}
		switch {
		case src.IsDir() && !dst.IsDir():
			return syscall.ENOTDIR
		case !src.IsDir() && dst.IsDir():
			return syscall.EISDIR
		case dst.IsDir() && !emptyDir(to):
			return syscall.ENOTEMPTY
		}
		trash = n.lfs.p.trashPath()
		if err := os.Rename(to, trash); err != nil {
			return fs.ToErrno(err)
		}
	}
	if err := os.Rename(from, to); err != nil {
		if trash != "" {
			_ = os.Rename(trash, to)
		}
		return fs.ToErrno(err)
	}
	n.lfs.p.add(dirOp{what: "rename " + n.rel(from) + " " + n.rel(to), dirs: []uint64{n.ino(), np.ino()},
		undo: func() error {
			if err := os.Rename(to, from); err != nil {
				return err
			}
			if trash != "" {
				return os.Rename(trash, to)
			}
			return nil
		},
		commit: func() {
			if trash != "" {
				_ = os.RemoveAll(trash)
			}
		}})
	return 0
}

// CopyFileRange is refused, so that the kernel copies with reads and
// writes, which are recorded.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle,
	offOut, length, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOTSUP
}

// dirStream is what the loopback's directory handle does, less its
// Fsyncdir.
type dirStream interface {
	fs.FileReaddirenter
	fs.FileSeekdirer
	fs.FileReleasedirer
}

// dirHandle is an open directory whose fsync goes to the node.
type dirHandle struct {
	dirStream
	n *node
}

// Fsyncdir syncs the directory's pending entries.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return d.n.Fsync(ctx, nil, flags)
}

// OpendirHandle opens the directory with a handle whose fsync is recorded.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	ds, ok := fh.(dirStream)
	if !ok {
		return fh, fl, 0
	}
	return &dirHandle{dirStream: ds, n: n}, fl, 0
}

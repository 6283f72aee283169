package lazyfs

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// pageSize is the granularity of the undo log: a page overwritten since the
// last fsync keeps its old content once.
const pageSize = 4096

// fileUndo is what a file written since its last fsync needs to go back to
// its synced state.
type fileUndo struct {
	// fd is the backing file, opened anew (its own open file description,
	// so that it holds none of the agent's locks). It keeps the inode alive
	// even when the file is unlinked.
	fd int
	// path is where the file was when it was first written, for reports.
	path string
	// durableSize is the file's size at its last fsync.
	durableSize int64
	// saved holds the synced content of each page overwritten since, by
	// page number (the last page may be short).
	saved map[int64][]byte
	// writes counts the writes since the last fsync.
	writes int
}

// dirOp is a pending directory operation.
type dirOp struct {
	what string
	// dirs are the inode numbers of the directories it changed.
	dirs []uint64
	// undo takes the operation back (run newest first, so the namespace is
	// as the operation left it).
	undo func() error
	// commit runs when the operation becomes durable (it empties the
	// trash of an unlink).
	commit func()
}

// pending is the state a power loss throws away.
type pending struct {
	mu    sync.Mutex
	files map[uint64]*fileUndo
	ops   []dirOp
	trash string
	seq   int
}

func newPending(trash string) *pending {
	return &pending{files: map[uint64]*fileUndo{}, trash: trash}
}

// fileFor returns the undo record of the file open as fd, creating it (with
// the file's current size as its synced size) at its first write since an
// fsync.
func (p *pending) fileFor(fd int, path string) (*fileUndo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if u := p.files[st.Ino]; u != nil {
		return u, nil
	}
	own, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", path, err)
	}
	u := &fileUndo{fd: own, path: path, durableSize: st.Size, saved: map[int64][]byte{}}
	p.files[st.Ino] = u
	return u, nil
}

// beforeWrite saves the synced content of the pages [off, off+n) is about to
// overwrite, within the file's synced size.
func (p *pending) beforeWrite(fd int, path string, off, n int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, err := p.fileFor(fd, path)
	if err != nil {
		return err
	}
	u.writes++
	if n <= 0 {
		return nil
	}
	end := min(off+n, u.durableSize)
	for page := off / pageSize; page*pageSize < end; page++ {
		if _, ok := u.saved[page]; ok {
			continue
		}
		start := page * pageSize
		buf := make([]byte, min(pageSize, u.durableSize-start))
		if _, err := readFull(u.fd, buf, start); err != nil {
			return fmt.Errorf("save %s page %d: %w", path, page, err)
		}
		u.saved[page] = buf
	}
	return nil
}

// beforeTruncate saves what a truncate to size is about to cut off.
func (p *pending) beforeTruncate(fd int, path string, size int64) error {
	p.mu.Lock()
	u, err := p.fileFor(fd, path)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	durable := u.durableSize
	p.mu.Unlock()
	if size >= durable {
		return p.beforeWrite(fd, path, 0, 0)
	}
	return p.beforeWrite(fd, path, size, durable-size)
}

// syncFile makes the writes to the file open as fd durable.
func (p *pending) syncFile(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.files[st.Ino]; u != nil {
		unix.Close(u.fd)
		delete(p.files, st.Ino)
	}
	return nil
}

// add records a directory operation.
func (p *pending) add(op dirOp) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ops = append(p.ops, op)
}

// trashPath names a fresh place in the trash.
func (p *pending) trashPath() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	return fmt.Sprintf("%s/%d", p.trash, p.seq)
}

// syncDir makes durable every pending directory operation up to the last
// one that changed the directory dir.
func (p *pending) syncDir(dir uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := -1
	for i, op := range p.ops {
		if slices.Contains(op.dirs, dir) {
			last = i
		}
	}
	for _, op := range p.ops[:last+1] {
		if op.commit != nil {
			op.commit()
		}
	}
	p.ops = slices.Delete(p.ops, 0, last+1)
}

// Loss says what a power loss threw away.
type Loss struct {
	// Files is how many files lost writes, and Writes how many writes.
	Files, Writes int
	// Holes is how many of those files kept their grown size as zeros.
	Holes int
	// DirOps lists the directory operations undone, oldest first.
	DirOps []string
}

// String summarises the loss.
func (l Loss) String() string {
	ops := l.DirOps
	more := ""
	if len(ops) > 3 {
		ops, more = ops[len(ops)-3:], fmt.Sprintf(" (the last 3 of %d)", len(l.DirOps))
	}
	return fmt.Sprintf("%d unsynced writes to %d files dropped (%d left as holes), %d directory operations undone%s %s",
		l.Writes, l.Files, l.Holes, len(l.DirOps), more, strings.Join(ops, ", "))
}

// drop throws away everything unsynced: the files go back to their synced
// content and size (or keep their grown size as zeros, when rng says so),
// and the pending directory operations are undone, newest first.
func (p *pending) drop(rng *rand.Rand) (Loss, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var loss Loss
	var errs []error
	for ino, u := range p.files {
		hole, err := u.restore(rng)
		if err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", u.path, err))
		}
		loss.Files++
		loss.Writes += u.writes
		if hole {
			loss.Holes++
		}
		unix.Close(u.fd)
		delete(p.files, ino)
	}
	for i := len(p.ops) - 1; i >= 0; i-- {
		if err := p.ops[i].undo(); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", p.ops[i].what, err))
		}
	}
	for _, op := range p.ops {
		loss.DirOps = append(loss.DirOps, op.what)
	}
	p.ops = nil
	_ = os.RemoveAll(p.trash)
	if err := os.MkdirAll(p.trash, 0o700); err != nil {
		errs = append(errs, err)
	}
	return loss, errors.Join(errs...)
}

// restore puts the file back as it was at its last fsync. What it grew by
// since is cut off, or (half the time, when rng is set) left in place as
// zeros: the size reached the disk, the data did not.
func (u *fileUndo) restore(rng *rand.Rand) (hole bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(u.fd, &st); err != nil {
		return false, err
	}
	if st.Size > u.durableSize && rng != nil && rng.Intn(2) == 0 {
		hole = true
		zeros := make([]byte, pageSize)
		for off := u.durableSize; off < st.Size; off += pageSize {
			n := min(pageSize, st.Size-off)
			if _, err := unix.Pwrite(u.fd, zeros[:n], off); err != nil {
				return hole, err
			}
		}
	} else if err := unix.Ftruncate(u.fd, u.durableSize); err != nil {
		return false, err
	}
	for page, buf := range u.saved {
		if _, err := unix.Pwrite(u.fd, buf, page*pageSize); err != nil {
			return hole, err
		}
	}
	return hole, nil
}

// readFull reads len(buf) bytes at off; past the end of the file it
// leaves zeros.
func readFull(fd int, buf []byte, off int64) (int, error) {
	done := 0
	for done < len(buf) {
		n, err := unix.Pread(fd, buf[done:], off+int64(done))
		if err != nil {
			return done, err
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

package journal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// update runs fn in a write transaction. A commit the file system refused
// (fn itself succeeded) and a panic inside bbolt (a page damaged under the
// running agent) fence the journal: that call and every later one fail with
// ErrWriteFailed or ErrDamaged, without touching the file again. After a
// failed fsync, bbolt's view of the file (its mmap, the page cache) may
// hold a transaction the disk does not, and its free list may disagree
// with it; using it further could acknowledge what is not stored, or
// overwrite what is.
func (j *Journal) update(fn func(*bolt.Tx) error) error {
	return j.guard(func() error {
		var fnErr error
		err := j.db.Update(func(tx *bolt.Tx) error {
			fnErr = fn(tx)
			return fnErr
		})
		if err != nil && fnErr == nil {
			return j.fail(fmt.Errorf("%w: %s: %w", ErrWriteFailed, j.path, err))
		}
		return err
	})
}

// view runs fn in a read transaction, guarded as update is.
func (j *Journal) view(fn func(*bolt.Tx) error) error {
	return j.guard(func() error { return j.db.View(fn) })
}

// guard fails at once on a fenced journal, and turns a panic inside bbolt
// into ErrDamaged.
func (j *Journal) guard(run func() error) (err error) {
	if f := j.failure(); f != nil {
		return f
	}
	defer func() {
		if r := recover(); r != nil {
			err = j.fail(fmt.Errorf("%w: %s: bbolt panicked reading it: %v", ErrDamaged, j.path, r))
		}
	}()
	return run()
}

func (j *Journal) failure() error {
	j.failMu.Lock()
	defer j.failMu.Unlock()
	return j.failed
}

// fail fences the journal with err (the first failure stays) and tells the
// owner once.
func (j *Journal) fail(err error) error {
	j.failMu.Lock()
	first := j.failed == nil
	if first {
		j.failed = err
	}
	err = j.failed
	j.failMu.Unlock()
	if first && j.onFailure != nil {
		j.onFailure(err)
	}
	return err
}

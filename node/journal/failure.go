package journal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// update runs fn in one fsync'd write transaction, after the deferred
// writes still pending (see Deferred), which it makes durable with it. A
// commit the file system refused (fn itself succeeded) and a panic inside
// bbolt (a page damaged under the running agent) fence the journal: that
// call and every later one fail with ErrWriteFailed or ErrDamaged, without
// touching the file again. After a failed fsync, bbolt's view of the file
// (its mmap, the page cache) may hold a transaction the disk does not, and
// its free list may disagree with it; using it further could acknowledge
// what is not stored, or overwrite what is. When fn fails, nothing of it is
// written and the pending writes stay pending.
func (j *Journal) update(fn func(*bolt.Tx) error) error {
	return j.guard(func() error {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.commitLocked(fn)
	})
}

// commitLocked is update with j.mu held.
func (j *Journal) commitLocked(fn func(*bolt.Tx) error) error {
	var fnErr error
	err := j.db.Update(func(tx *bolt.Tx) error {
		if fnErr = j.replay(tx); fnErr != nil {
			return fnErr
		}
		fnErr = fn(tx)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return j.fail(fmt.Errorf("%w: %s: %w", ErrWriteFailed, j.path, err))
	}
	if err == nil {
		j.pending = nil
		if j.afterWrite != nil {
			j.afterWrite(true)
		}
	}
	return err
}

// defer applies fn after the pending writes in a transaction that is
// rolled back, and keeps it pending if it succeeds: it becomes durable with
// the next update (or Close), and a crash before then loses it. Past
// maxPending deferred writes, fn is written at once with the others, so
// that a long poll cannot grow the list without bound.
func (j *Journal) deferWrite(fn func(*bolt.Tx) error) error {
	return j.guard(func() error {
		j.mu.Lock()
		defer j.mu.Unlock()
		if len(j.pending) >= maxPending {
			return j.commitLocked(fn)
		}
		if err := j.scratch(fn); err != nil {
			return err
		}
		j.pending = append(j.pending, fn)
		if j.afterWrite != nil {
			j.afterWrite(false)
		}
		return nil
	})
}

// replay applies the pending deferred writes to tx, in order.
func (j *Journal) replay(tx *bolt.Tx) error {
	for _, p := range j.pending {
		if err := p(tx); err != nil {
			return fmt.Errorf("replay a deferred write: %w", err)
		}
	}
	return nil
}

// scratch runs fn in a write transaction holding the pending writes, then
// rolls it back: nothing reaches the file.
func (j *Journal) scratch(fn func(*bolt.Tx) error) error {
	tx, err := j.db.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := j.replay(tx); err != nil {
		return err
	}
	return fn(tx)
}

// view runs fn in a read transaction, guarded as update is. With deferred
// writes pending, it reads them too (in a write transaction rolled back).
func (j *Journal) view(fn func(*bolt.Tx) error) error {
	return j.guard(func() error {
		j.mu.Lock()
		defer j.mu.Unlock()
		if len(j.pending) == 0 {
			return j.db.View(fn)
		}
		return j.scratch(fn)
	})
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

package storecheck

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrDamaged marks a file that is not a sound bbolt database: empty,
	// truncated, or with a page that fails bbolt's consistency check.
	ErrDamaged = errors.New("damaged")
	// ErrLocked marks a file another process holds open for writing.
	ErrLocked = errors.New("locked by another process")
)

// Check opens the bbolt file at path read-only, waiting at most timeout
// for its lock, and runs bbolt's consistency check over every page. A
// missing file is not an error (the caller decides whether one should be
// there). A damaged file is an error wrapping ErrDamaged, and one held by
// another process an error wrapping ErrLocked; both name the file. Check
// never panics: a panic inside bbolt is reported as damage.
func Check(path string, timeout time.Duration) (err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%s: %w: the file is empty (0 bytes)", path, ErrDamaged)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: %v", path, ErrDamaged, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("%s: %w (waited %s)", path, ErrLocked, timeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %w: %w", path, ErrDamaged, err)
	}
	defer db.Close()
	if size := int64(db.Info().PageSize); fi.Size() < size*2 {
		return fmt.Errorf("%s: %w: %d bytes, shorter than its two meta pages", path, ErrDamaged, fi.Size())
	}
	return db.View(func(tx *bolt.Tx) error {
		if want := tx.Size(); want > fi.Size() {
			return fmt.Errorf("%s: %w: truncated: %d bytes of %d", path, ErrDamaged, fi.Size(), want)
		}
		var first error
		for cerr := range tx.Check() {
			// The first fault names the damage; drain the rest so the
			// checking goroutine ends.
			if first == nil {
				first = fmt.Errorf("%s: %w: %w", path, ErrDamaged, cerr)
			}
		}
		return first
	})
}

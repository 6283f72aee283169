package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrTooLarge is wrapped by Store.Put when the bytes exceed the size limit.
// Nothing is kept in that case.
var ErrTooLarge = errors.New("artifact too large")

// ErrNotHeld is wrapped by Store.Open and Store.Verify for a digest the
// store does not hold.
var ErrNotHeld = errors.New("artifact not held")

// Store is a server's copy of the artifacts held by the cluster: one file
// per artifact, named by its digest, in one directory under the agent's
// data dir. A file appears under its name only once its bytes are
// verified, fsynced and renamed into place with the directory fsynced, so
// a crash leaves either the whole verified artifact or nothing (and a
// temporary file OpenStore removes).
type Store struct {
	dir string
}

// OpenStore opens (creating it) the store in dir and removes the temporary
// files an interrupted Put left behind.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", dir, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".put-*"))
	for _, f := range leftovers {
		_ = os.Remove(f)
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Path is where the store keeps the artifact with digest sha (64
// lower-case hex digits; callers check it).
func (s *Store) Path(sha string) string { return filepath.Join(s.dir, strings.ToLower(sha)) }

// Has reports whether the store holds a file for sha (without hashing it:
// see Verify).
func (s *Store) Has(sha string) bool {
	_, err := os.Stat(s.Path(sha))
	return err == nil
}

// Put stores the bytes of r as the artifact sha: streamed to a temporary
// file, hashed on the way, and kept only when they hash to sha and number
// at most maxSize (0: no limit). It returns their size. Too many bytes
// wrap ErrTooLarge, the wrong ones ErrDigestMismatch; either way nothing
// is kept. ctx stops the copy.
func (s *Store) Put(ctx context.Context, r io.Reader, sha string, maxSize int64) (int64, error) {
	want, err := normalizeDigest(sha)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return 0, err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	src := io.Reader(contextReader{ctx: ctx, r: r})
	if maxSize > 0 {
		src = io.LimitReader(src, maxSize+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		return n, fmt.Errorf("receive artifact sha256:%s: %w", want, err)
	}
	if maxSize > 0 && n > maxSize {
		return n, fmt.Errorf("%w: artifact sha256:%s is over the limit of %d bytes", ErrTooLarge, want, maxSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return n, fmt.Errorf("%w: the %d bytes received hash to sha256:%s, not sha256:%s", ErrDigestMismatch, n, got, want)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	if err := os.Rename(tmp.Name(), s.Path(want)); err != nil {
		return n, err
	}
	keep = true
	return n, syncDir(s.dir)
}

// Open opens the stored artifact sha for reading, or fails wrapping
// ErrNotHeld.
func (s *Store) Open(sha string) (*os.File, error) {
	f, err := os.Open(s.Path(sha))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: sha256:%s", ErrNotHeld, sha)
	}
	return f, err
}

// Verify hashes the stored artifact sha. A copy whose bytes no longer hash
// to sha (a damaged disk) is removed, and the error wraps
// ErrDigestMismatch, so that it is neither served nor counted again.
func (s *Store) Verify(sha string) error {
	if !s.Has(sha) {
		return fmt.Errorf("%w: sha256:%s", ErrNotHeld, sha)
	}
	ok, err := hasDigest(s.Path(sha), sha)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: the stored copy of sha256:%s is damaged and was removed", ErrDigestMismatch, sha)
	}
	return nil
}

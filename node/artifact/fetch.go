package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

var (
	// ErrDigestMismatch is wrapped by Fetch when the fetched bytes do not
	// hash to the expected SHA-256. Nothing is kept in that case.
	ErrDigestMismatch = errors.New("artifact digest mismatch")
	// ErrBadDigest is wrapped by Fetch when the expected digest is not 64
	// hexadecimal characters.
	ErrBadDigest = errors.New("invalid SHA-256 digest")
)

// Path is where Fetch stores the artifact with digest sha256hex in destDir.
// Artifacts are content-addressed: the file name is the lower-case digest.
func Path(destDir, sha256hex string) string {
	return filepath.Join(destDir, strings.ToLower(sha256hex))
}

// Fetch makes sure destDir holds the artifact at source with the digest
// sha256hex and returns its path (see Path). source is an http:// or https://
// URL, a file:// URL, or a local path.
//
// If the file is already there with the right digest it is reused without
// fetching. Otherwise the bytes are streamed to a temporary file in destDir,
// hashed on the way, fsync'd and renamed into place only when the digest
// matches; on a mismatch the temporary file is removed and the error wraps
// ErrDigestMismatch and names both digests. ctx bounds the whole fetch.
func Fetch(ctx context.Context, source, sha256hex, destDir string) (string, error) {
	want, err := normalizeDigest(sha256hex)
	if err != nil {
		return "", fmt.Errorf("fetch artifact %s: %w", source, err)
	}
	final := Path(destDir, want)
	if ok, err := hasDigest(final, want); err != nil {
		return "", fmt.Errorf("fetch artifact %s: check existing %s: %w", source, final, err)
	} else if ok {
		return final, nil
	}
	if err := os.MkdirAll(destDir, 0o755); err != nil {
		return "", fmt.Errorf("fetch artifact %s: %w", source, err)
	}
	body, err := open(ctx, source)
	if err != nil {
		return "", fmt.Errorf("fetch artifact %s: %w", source, err)
	}
	defer body.Close()
	if err := store(ctx, body, want, final); err != nil {
		return "", fmt.Errorf("fetch artifact %s: %w", source, err)
	}
	return final, nil
}

func normalizeDigest(sha256hex string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(sha256hex))
	if len(d) != 2*sha256.Size {
		return "", fmt.Errorf("%w %q: want %d hex characters, got %d", ErrBadDigest, sha256hex, 2*sha256.Size, len(d))
	}
	if _, err := hex.DecodeString(d); err != nil {
		return "", fmt.Errorf("%w %q: not hexadecimal", ErrBadDigest, sha256hex)
	}
	return d, nil
}

// hasDigest reports whether path exists and hashes to want. A file with the
// wrong content (a disk error, a hand edit) is removed so it is fetched
// again.
func hasDigest(path, want string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	if hex.EncodeToString(h.Sum(nil)) == want {
		return true, nil
	}
	return false, os.Remove(path)
}

// store streams body into a temporary file next to final and renames it into
// place when its digest is want.
func store(ctx context.Context, body io.Reader, want, final string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(final), ".fetch-*.partial")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), contextReader{ctx: ctx, r: body}); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: got sha256 %s, want %s", ErrDigestMismatch, got, want)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// syncDir makes the rename durable, so a crash right after Fetch returns
// does not lose the artifact a hook was told about.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// open returns the artifact's bytes from an http(s) URL, a file:// URL or a
// local path.
func open(ctx context.Context, source string) (io.ReadCloser, error) {
	switch {
	case strings.HasPrefix(source, "http://"), strings.HasPrefix(source, "https://"):
		return openHTTP(ctx, source)
	case strings.HasPrefix(source, "file://"):
		u, err := url.Parse(source)
		if err != nil {
			return nil, err
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file URL with remote host %q is not supported", u.Host)
		}
		return os.Open(u.Path)
	case strings.Contains(source, "://"):
		return nil, fmt.Errorf("unsupported scheme (want http, https, file or a local path)")
	case source == "":
		return nil, errors.New("empty artifact location")
	default:
		return os.Open(source)
	}
}

func openHTTP(ctx context.Context, source string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET: %s", resp.Status)
	}
	return resp.Body, nil
}

// contextReader stops a copy from a source that ignores ctx (a local file on
// a slow or hung mount) as soon as ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

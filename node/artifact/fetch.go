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
	// ErrRefusedURL is wrapped by Fetch when the source is not a URL the
	// policy allows: a local path, file:, a relative URL, another scheme,
	// or plain http without Policy.AllowHTTP. Nothing is read.
	ErrRefusedURL = errors.New("artifact URL refused")
)

// Policy says which sources Fetch reads from: https always, http only with
// AllowHTTP (the agent's --allow-http-artifacts), nothing else.
type Policy struct {
	AllowHTTP bool
	// transport is the client's; nil means http.DefaultTransport. Tests
	// set it to trust their TLS server.
	transport http.RoundTripper
}

// Path is where Fetch stores the artifact with digest sha256hex in destDir.
// Artifacts are content-addressed: the file name is the lower-case digest.
func Path(destDir, sha256hex string) string {
	return filepath.Join(destDir, strings.ToLower(sha256hex))
}

// Fetch makes sure destDir holds the artifact at source with the digest
// sha256hex and returns its path (see Path). source is an https:// URL, or
// an http:// one when p allows; anything else (a local path, file:, a
// relative URL) is refused with ErrRefusedURL before anything is read, and
// so is a redirect to plain http that p does not allow.
//
// If the file is already there with the right digest it is reused without
// fetching. Otherwise the bytes are streamed to a temporary file in destDir,
// hashed on the way, fsync'd and renamed into place only when the digest
// matches; on a mismatch the temporary file is removed and the error wraps
// ErrDigestMismatch and names the digest wanted, never the one computed
// (which would tell anyone who reads the transaction's reason the hash of
// whatever the URL served). ctx bounds the whole fetch.
func Fetch(ctx context.Context, source, sha256hex, destDir string, p Policy) (string, error) {
	want, err := normalizeDigest(sha256hex)
	if err != nil {
		return "", fmt.Errorf("fetch artifact %s: %w", source, err)
	}
	if err := p.check(source); err != nil {
		return "", fmt.Errorf("fetch artifact: %w", err)
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
	body, err := openHTTP(ctx, source, p)
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
		return fmt.Errorf("%w: the bytes do not hash to the wanted sha256 %s", ErrDigestMismatch, want)
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

// check refuses a source p does not allow. The message quotes at most the
// first 64 bytes of the source.
func (p Policy) check(source string) error {
	u, err := url.Parse(source)
	want := "https"
	if p.AllowHTTP {
		want = "http or https"
	}
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Errorf("%w: %q is not an absolute URL: want %s", ErrRefusedURL, clip(source), want)
	case u.Scheme != "https" && (u.Scheme != "http" || !p.AllowHTTP):
		return fmt.Errorf("%w: scheme %q is not allowed: want %s", ErrRefusedURL, u.Scheme, want)
	case u.Host == "":
		return fmt.Errorf("%w: %q has no host", ErrRefusedURL, clip(source))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func openHTTP(ctx context.Context, source string, p Policy) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: p.transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return p.check(req.URL.String())
	}}
	resp, err := client.Do(req)
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

package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Holder is a server to fetch a stored artifact from: its ID (for errors)
// and the base URL of its API, such as https://10.0.0.1:7070.
type Holder struct {
	ID      string
	BaseURL string
}

// ArtifactRoute is the API path of the stored artifact sha.
func ArtifactRoute(sha string) string { return "/v1/artifacts/sha256:" + sha }

// resumes bounds how often one holder's download is resumed after its body
// was cut without progress in between.
const resumes = 3

// FetchStored makes sure destDir holds the artifact held by the cluster
// with digest sha, fetching it from holders in turn, and returns its path
// (Path(destDir, sha)). A file already there with the right digest is
// reused. The bytes go to a partial file named after the digest; a body cut
// short is resumed from where it stopped with an HTTP Range request (from
// the same holder, or the next one), so an interrupted download does not
// start over. Once a holder has sent the whole body the partial file is
// hashed: bytes that do not hash to sha (a damaged copy) are thrown away
// and the next holder is asked. Only verified bytes are renamed into place;
// nothing runs before. The error, when every holder failed, names each
// holder with why.
func FetchStored(ctx context.Context, client *http.Client, holders []Holder, sha, destDir string) (string, error) {
	want, err := normalizeDigest(sha)
	if err != nil {
		return "", fmt.Errorf("fetch artifact: %w", err)
	}
	final := Path(destDir, want)
	if ok, err := hasDigest(final, want); err != nil {
		return "", fmt.Errorf("fetch artifact sha256:%s: check existing %s: %w", want, final, err)
	} else if ok {
		return final, nil
	}
	if len(holders) == 0 {
		return "", fmt.Errorf("fetch artifact sha256:%s: no server holds it", want)
	}
	if err := os.MkdirAll(destDir, 0o755); err != nil {
		return "", fmt.Errorf("fetch artifact sha256:%s: %w", want, err)
	}
	partial := filepath.Join(destDir, "."+want+".partial")
	var why []string
	for _, h := range holders {
		err := fetchFrom(ctx, client, h, want, partial)
		if err == nil {
			if err := finishPartial(partial, want, final); err == nil {
				return final, nil
			} else if !errors.Is(err, ErrDigestMismatch) {
				return "", fmt.Errorf("fetch artifact sha256:%s: %w", want, err)
			}
			_ = os.Remove(partial)
			err = fmt.Errorf("%w: its copy does not hash to sha256:%s; refused", ErrDigestMismatch, want)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("fetch artifact sha256:%s: %w", want, ctx.Err())
		}
		why = append(why, fmt.Sprintf("%s: %v", h.ID, err))
	}
	return "", fmt.Errorf("fetch artifact sha256:%s: no holder served it whole and intact (%s)", want, strings.Join(why, "; "))
}

// fetchFrom appends to partial what holder h serves of the artifact until
// the body ends, resuming a cut body with a Range request while each try
// brings more bytes (and at most resumes times in a row without).
func fetchFrom(ctx context.Context, client *http.Client, h Holder, sha, partial string) error {
	stalled := 0
	for {
		before := fileSize(partial)
		err := fetchRange(ctx, client, h, sha, partial, before)
		if err == nil {
			return nil
		}
		var status statusError
		if errors.As(err, &status) || ctx.Err() != nil {
			return err
		}
		if fileSize(partial) > before {
			stalled = 0
		} else if stalled++; stalled >= resumes {
			return err
		}
	}
}

// statusError is an answer that is not the artifact's bytes: asking the
// same holder again will not help.
type statusError struct{ status string }

func (e statusError) Error() string { return "GET: " + e.status }

// fetchRange asks for the artifact from offset on and appends the body to
// partial; a holder that answers with the whole body (200) restarts it.
func fetchRange(ctx context.Context, client *http.Client, h Holder, sha, partial string, offset int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(h.BaseURL, "/")+ArtifactRoute(sha), nil)
	if err != nil {
		return statusError{status: err.Error()}
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
	case resp.StatusCode == http.StatusOK:
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The partial file is as long as the artifact or longer: hash it.
		return nil
	default:
		return statusError{status: resp.Status}
	}
	f, err := os.OpenFile(partial, flags, 0o644)
	if err != nil {
		return statusError{status: err.Error()}
	}
	_, copyErr := io.Copy(f, contextReader{ctx: ctx, r: resp.Body})
	if err := f.Close(); err != nil && copyErr == nil {
		copyErr = err
	}
	return copyErr
}

// finishPartial renames partial to final when it hashes to sha, after an
// fsync of the file and then of the directory; a mismatch wraps
// ErrDigestMismatch and keeps nothing.
func finishPartial(partial, sha, final string) error {
	ok, err := hasDigest(partial, sha)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: sha256:%s", ErrDigestMismatch, sha)
	}
	f, err := os.Open(partial)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Rename(partial, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

var payload = []byte("baton test artifact v2.0.0\n")

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// server serves payload at /app.tgz, 404 elsewhere, and counts requests.
func server(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/app.tgz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(payload)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// entries lists destDir's file names, so tests can see nothing was left.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestFetchHTTPMatch(t *testing.T) {
	srv, _ := server(t)
	dest := filepath.Join(t.TempDir(), "artifacts")
	path, err := Fetch(context.Background(), srv.URL+"/app.tgz", digest(payload), dest, Policy{AllowHTTP: true})
	require.NoError(t, err)
	require.Equal(t, Path(dest, digest(payload)), path)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, payload, got)
	require.Equal(t, []string{digest(payload)}, entries(t, dest))
}

func TestFetchAcceptsUpperCaseDigest(t *testing.T) {
	srv, _ := server(t)
	dest := t.TempDir()
	path, err := Fetch(context.Background(), srv.URL+"/app.tgz", strings.ToUpper(digest(payload)), dest, Policy{AllowHTTP: true})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dest, digest(payload)), path)
}

func TestFetchMismatchKeepsNothing(t *testing.T) {
	srv, _ := server(t)
	dest := t.TempDir()
	wrong := digest([]byte("something else"))
	_, err := Fetch(context.Background(), srv.URL+"/app.tgz", wrong, dest, Policy{AllowHTTP: true})
	require.ErrorIs(t, err, ErrDigestMismatch)
	require.Contains(t, err.Error(), wrong)
	require.NotContains(t, err.Error(), digest(payload), "the computed digest is never told")
	require.Empty(t, entries(t, dest))
}

func TestFetchBadDigest(t *testing.T) {
	for _, bad := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("a", 65)} {
		_, err := Fetch(context.Background(), "/nonexistent", bad, t.TempDir(), Policy{AllowHTTP: true})
		require.ErrorIs(t, err, ErrBadDigest, "digest %q", bad)
	}
}

func TestFetchHTTPNotFound(t *testing.T) {
	srv, _ := server(t)
	dest := t.TempDir()
	_, err := Fetch(context.Background(), srv.URL+"/missing.tgz", digest(payload), dest, Policy{AllowHTTP: true})
	require.ErrorContains(t, err, "404")
	require.ErrorContains(t, err, "/missing.tgz")
	require.Empty(t, entries(t, dest))
}

func TestFetchReusesAVerifiedFile(t *testing.T) {
	srv, hits := server(t)
	dest := t.TempDir()
	first, err := Fetch(context.Background(), srv.URL+"/app.tgz", digest(payload), dest, Policy{AllowHTTP: true})
	require.NoError(t, err)
	require.EqualValues(t, 1, hits.Load())

	second, err := Fetch(context.Background(), srv.URL+"/app.tgz", digest(payload), dest, Policy{AllowHTTP: true})
	require.NoError(t, err)
	require.Equal(t, first, second)
	require.EqualValues(t, 1, hits.Load(), "a verified artifact must not be downloaded again")
}

func TestFetchReplacesACorruptedFile(t *testing.T) {
	srv, hits := server(t)
	dest := t.TempDir()
	require.NoError(t, os.WriteFile(Path(dest, digest(payload)), []byte("corrupted"), 0o644))
	path, err := Fetch(context.Background(), srv.URL+"/app.tgz", digest(payload), dest, Policy{AllowHTTP: true})
	require.NoError(t, err)
	require.EqualValues(t, 1, hits.Load())
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, payload, got)
}

// A local path, a file: URL, a relative URL, another scheme and, without
// AllowHTTP, plain http are refused before anything is read: nothing is
// fetched, nothing is stored, and the error says why without any content.
func TestFetchRefusesWhatThePolicyDoesNotAllow(t *testing.T) {
	srv, hits := server(t)
	src := filepath.Join(t.TempDir(), "app.tgz")
	require.NoError(t, os.WriteFile(src, payload, 0o600))
	for _, tc := range []struct {
		source string
		policy Policy
		want   string
	}{
		{src, Policy{AllowHTTP: true}, "is not an absolute URL: want http or https"},
		{"file://" + src, Policy{AllowHTTP: true}, `scheme "file" is not allowed: want http or https`},
		{"file:///etc/shadow", Policy{AllowHTTP: true}, `scheme "file" is not allowed`},
		{"../../etc/shadow", Policy{}, "is not an absolute URL: want https"},
		{"ftp://example.test/app.tgz", Policy{AllowHTTP: true}, `scheme "ftp" is not allowed`},
		{srv.URL + "/app.tgz", Policy{}, `scheme "http" is not allowed: want https`},
		{"https:///app.tgz", Policy{}, "has no host"},
	} {
		t.Run(tc.source, func(t *testing.T) {
			dest := t.TempDir()
			_, err := Fetch(context.Background(), tc.source, digest(payload), dest, tc.policy)
			require.ErrorIs(t, err, ErrRefusedURL)
			require.ErrorContains(t, err, tc.want)
			require.Empty(t, entries(t, dest))
		})
	}
	require.Zero(t, hits.Load(), "nothing was requested")
}

// A redirect from an allowed URL to one the policy refuses is not followed.
func TestFetchRefusesARedirectToPlainHTTP(t *testing.T) {
	srv, hits := server(t)
	redirect := httptest.NewTLSServer(http.RedirectHandler(srv.URL+"/app.tgz", http.StatusFound))
	t.Cleanup(redirect.Close)
	_, err := Fetch(context.Background(), redirect.URL+"/app.tgz", digest(payload), t.TempDir(),
		Policy{transport: redirect.Client().Transport})
	require.ErrorIs(t, err, ErrRefusedURL)
	require.Zero(t, hits.Load())
}

func TestFetchStopsWhenContextEnds(t *testing.T) {
	srv, _ := server(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := t.TempDir()
	_, err := Fetch(ctx, srv.URL+"/app.tgz", digest(payload), dest, Policy{AllowHTTP: true})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, entries(t, dest))
}

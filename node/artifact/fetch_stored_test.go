package artifact

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fixedTime is the modification time the test holders serve.
var fixedTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var bigPayload = []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB

// holderServer serves body at ArtifactRoute(sha) with Range support; cut,
// when above zero, makes the first whole-body answer stop after cut bytes
// (the connection closes mid-body). It records the Range headers it saw.
type holderServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	ranges []string
}

func newHolder(t *testing.T, sha string, body []byte, cut int) *holderServer {
	t.Helper()
	h := &holderServer{}
	cutOnce := cut > 0
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.ranges = append(h.ranges, r.Header.Get("Range"))
		doCut := cutOnce && r.Header.Get("Range") == ""
		cutOnce = cutOnce && !doCut
		h.mu.Unlock()
		if r.URL.Path != ArtifactRoute(sha) {
			http.NotFound(w, r)
			return
		}
		if doCut {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body[:cut])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
		http.ServeContent(w, r, "", fixedTime, strings.NewReader(string(body)))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *holderServer) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ranges...)
}

func TestFetchStoredResumesAnInterruptedDownload(t *testing.T) {
	sha := digest(bigPayload)
	h := newHolder(t, sha, bigPayload, 20000)
	dest := t.TempDir()
	path, err := FetchStored(context.Background(), http.DefaultClient, []Holder{{ID: "s1", BaseURL: h.srv.URL}}, sha, dest)
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, bigPayload, got)
	require.Equal(t, []string{"", "bytes=20000-"}, h.seen(), "the second request asks only for the rest")
	require.Equal(t, []string{sha}, entries(t, dest), "no partial file is left")
}

func TestFetchStoredRefusesADamagedCopyAndAsksTheNextHolder(t *testing.T) {
	sha := digest(bigPayload)
	damaged := append([]byte(nil), bigPayload...)
	damaged[100] ^= 0xff
	bad := newHolder(t, sha, damaged, 0)
	good := newHolder(t, sha, bigPayload, 0)
	dest := t.TempDir()
	path, err := FetchStored(context.Background(), http.DefaultClient,
		[]Holder{{ID: "s1", BaseURL: bad.srv.URL}, {ID: "s2", BaseURL: good.srv.URL}}, sha, dest)
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, bigPayload, got)
	require.Equal(t, []string{""}, good.seen(), "the good holder is asked for the whole artifact, not the rest of a bad one")
}

func TestFetchStoredFailsWhenNoHolderServesItIntact(t *testing.T) {
	sha := digest(bigPayload)
	damaged := append([]byte(nil), bigPayload...)
	damaged[0] ^= 0xff
	bad := newHolder(t, sha, damaged, 0)
	missing := newHolder(t, digest([]byte("other")), bigPayload, 0)
	dest := t.TempDir()
	_, err := FetchStored(context.Background(), http.DefaultClient,
		[]Holder{{ID: "s1", BaseURL: bad.srv.URL}, {ID: "s2", BaseURL: missing.srv.URL}, {ID: "s3", BaseURL: "http://127.0.0.1:1"}}, sha, dest)
	require.Error(t, err)
	require.ErrorContains(t, err, "s1: artifact digest mismatch: its copy does not hash to sha256:"+sha+"; refused")
	require.ErrorContains(t, err, "s2: GET: 404 Not Found")
	require.ErrorContains(t, err, "s3: ")
	require.Empty(t, entries(t, dest), "nothing is kept")

	_, err = FetchStored(context.Background(), http.DefaultClient, nil, sha, dest)
	require.ErrorContains(t, err, "no server holds it")
	_, err = FetchStored(context.Background(), http.DefaultClient, nil, "nothex", dest)
	require.ErrorIs(t, err, ErrBadDigest)
}

func TestFetchStoredReusesAVerifiedFile(t *testing.T) {
	sha := digest(bigPayload)
	dest := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dest, sha), bigPayload, 0o644))
	path, err := FetchStored(context.Background(), http.DefaultClient, []Holder{{ID: "s1", BaseURL: "http://127.0.0.1:1"}}, sha, dest)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dest, sha), path)
}

package rpc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// fakeArtifacts keeps pushed artifacts in a directory, checking digests
// as a server does, and counts the bytes it read.
type fakeArtifacts struct {
	dir   string
	limit int64
	mu    sync.Mutex
	read  int64
}

func (f *fakeArtifacts) MaxArtifactSize() int64 { return f.limit }
func (f *fakeArtifacts) PushArtifact(_ context.Context, sha, name string, _ int64, body io.Reader) (api.ArtifactPush, error) {
	b, err := io.ReadAll(body)
	f.mu.Lock()
	f.read += int64(len(b))
	f.mu.Unlock()
	if int64(len(b)) > f.limit {
		return api.ArtifactPush{}, fmt.Errorf("%w: over the limit", api.ErrTooLarge)
	}
	if err != nil {
		return api.ArtifactPush{}, err
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != sha {
		return api.ArtifactPush{}, fmt.Errorf("%w: digest mismatch", fsm.ErrInvalid)
	}
	if err := os.WriteFile(filepath.Join(f.dir, sha), b, 0o644); err != nil {
		return api.ArtifactPush{}, err
	}
	return api.ArtifactPush{Artifact: api.Artifact{Ref: api.ArtifactRefPrefix + sha, SHA256: sha, Size: int64(len(b)), Name: name}}, nil
}
func (f *fakeArtifacts) ReplicateArtifact(context.Context, string, api.ArtifactReplicate) error {
	return nil
}
func (f *fakeArtifacts) RecordArtifact(context.Context, api.ArtifactRecord) error { return nil }
func (f *fakeArtifacts) OpenArtifact(sha string) (*os.File, error) {
	file, err := os.Open(filepath.Join(f.dir, sha))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: no copy of sha256:%s", fsm.ErrNotFound, sha)
	}
	return file, err
}

func artifactServer(t *testing.T, speaks int) (*httptest.Server, *fakeArtifacts) {
	t.Helper()
	b := &fakeBackend{id: "n1", f: fsm.New(3), leader: "n1", addrs: map[string]string{}}
	arts := &fakeArtifacts{dir: t.TempDir(), limit: 2 << 20}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Artifacts: arts, Speaks: speaks}))
	t.Cleanup(srv.Close)
	return srv, arts
}

func shaOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestArtifactPushStreamsPastTheBodyLimit: an artifact larger than the
// API's 1 MiB body limit goes through, and is served back with Range.
func TestArtifactPushStreamsPastTheBodyLimit(t *testing.T) {
	srv, _ := artifactServer(t, fsm.LatestProtocol)
	body := bytes.Repeat([]byte("artifact"), (3<<20)/16) // 1.5 MiB
	sha := shaOf(body)
	c := api.NewClient(srv.URL, "tok")
	res, err := c.PushArtifact(context.Background(), sha, "app.tgz", int64(len(body)), bytes.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, "sha256:"+sha, res.Artifact.Ref)

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/artifacts/sha256:"+sha, nil)
	req.Header.Set("Range", "bytes=1000-")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, body[1000:], got)
}

func TestArtifactRoutesRefuseBadInput(t *testing.T) {
	srv, arts := artifactServer(t, fsm.LatestProtocol)
	c := api.NewClient(srv.URL, "tok")
	small := []byte("small")

	_, err := api.NewClient(srv.URL, "").PushArtifact(context.Background(), shaOf(small), "a", 5, bytes.NewReader(small))
	require.ErrorIs(t, err, api.ErrUnauthorized, "a push needs the token")

	put := func(ref string, body io.Reader, size int64) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/artifacts/"+ref, body)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, msg := put("abc", bytes.NewReader(small), 5)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, msg, `artifact \"abc\": want sha256: and 64 lower-case hex digits`)

	code, msg = put("sha256:"+shaOf([]byte("other")), bytes.NewReader(small), 5)
	require.Equal(t, http.StatusBadRequest, code, msg)
	require.Contains(t, msg, "digest mismatch")

	big := bytes.Repeat([]byte("x"), 3<<20)
	before := arts.read
	code, msg = put("sha256:"+shaOf(big), bytes.NewReader(big), int64(len(big)))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Contains(t, msg, "over this agent's limit of 2097152 bytes (--artifact-max-size)")
	require.Equal(t, before, arts.read, "a declared size over the limit is refused before any byte is read")

	// Chunked, with no declared size: the limit stops the read.
	code, _ = put("sha256:"+shaOf(big), io.MultiReader(bytes.NewReader(big)), -1)
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.LessOrEqual(t, arts.read-before, int64(2<<20)+1, "no more than the limit (and one byte) is read")

	resp, err := http.Get(srv.URL + "/v1/artifacts/sha256:" + strings.Repeat("ab", 32))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "an artifact this server does not hold")

	_, err = c.Artifacts(context.Background())
	require.NoError(t, err)
}

// TestArtifactRoutesAreProtocol3: a build that speaks only protocol 2 has
// none of them.
func TestArtifactRoutesAreProtocol3(t *testing.T) {
	srv, _ := artifactServer(t, 2)
	_, err := api.NewClient(srv.URL, "tok").Artifacts(context.Background())
	require.ErrorIs(t, err, api.ErrNotFound)
}

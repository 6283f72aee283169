package artifact

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStorePutVerifiesAndKeepsOnlyGoodBytes(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	require.NoError(t, err)
	sha := digest(payload)

	n, err := s.Put(context.Background(), bytes.NewReader(payload), sha, 1<<20)
	require.NoError(t, err)
	require.Equal(t, int64(len(payload)), n)
	require.True(t, s.Has(sha))
	require.NoError(t, s.Verify(sha))
	got, err := os.ReadFile(s.Path(sha))
	require.NoError(t, err)
	require.Equal(t, payload, got)

	other := digest([]byte("other"))
	_, err = s.Put(context.Background(), bytes.NewReader(payload), other, 1<<20)
	require.ErrorIs(t, err, ErrDigestMismatch)
	require.ErrorContains(t, err, "hash to sha256:"+sha+", not sha256:"+other)
	require.False(t, s.Has(other))

	big := []byte(strings.Repeat("x", 100))
	_, err = s.Put(context.Background(), bytes.NewReader(big), digest(big), 99)
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "over the limit of 99 bytes")
	require.False(t, s.Has(digest(big)))
	_, err = s.Put(context.Background(), bytes.NewReader(big), digest(big), 100)
	require.NoError(t, err, "exactly the limit fits")

	_, err = s.Put(context.Background(), bytes.NewReader(payload), "sha256:"+sha, 0)
	require.ErrorIs(t, err, ErrBadDigest)

	require.Equal(t, []string{digest(big), sha}, sortedEntries(t, s.Dir()), "no temporary file is left")
}

func TestStoreVerifyRemovesADamagedCopy(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	require.NoError(t, err)
	sha := digest(payload)
	_, err = s.Put(context.Background(), bytes.NewReader(payload), sha, 0)
	require.NoError(t, err)
	flipByte(t, s.Path(sha), 3)
	err = s.Verify(sha)
	require.ErrorIs(t, err, ErrDigestMismatch)
	require.False(t, s.Has(sha), "a damaged copy is removed")
	require.ErrorIs(t, s.Verify(sha), ErrNotHeld)
	_, err = s.Open(sha)
	require.ErrorIs(t, err, ErrNotHeld)
}

func TestOpenStoreRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/.put-123", []byte("half"), 0o644))
	_, err := OpenStore(dir)
	require.NoError(t, err)
	require.Empty(t, entries(t, dir))
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[at] ^= 0xff
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func sortedEntries(t *testing.T, dir string) []string {
	names := entries(t, dir)
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	return names
}

package nodeauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func key(t *testing.T) Key {
	t.Helper()
	k, created, err := LoadOrCreate(filepath.Join(t.TempDir(), KeyFile))
	require.NoError(t, err)
	require.True(t, created)
	return k
}

func TestKeyFileIsPrivateAndReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	k, _, err := LoadOrCreate(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	again, created, err := LoadOrCreate(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, k.Public(), again.Public())
	require.True(t, ValidPublic(k.Public()))

	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	_, _, err = LoadOrCreate(path)
	require.ErrorContains(t, err, "not a PEM private key")
}

func TestSignatureCoversTheRequest(t *testing.T) {
	k, other := key(t), key(t)
	pub, err := ParsePublic(k.Public())
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"txn_id":"t-1"}`)
	h := k.Sign("n1", now, "POST", "/v1/internal/steps", body)
	sig, err := Parse(h)
	require.NoError(t, err)
	require.Equal(t, "n1", sig.ID)
	require.NoError(t, sig.Verify(pub, now.Add(time.Minute), "POST", "/v1/internal/steps", body))

	cases := map[string]func() error{
		"another body":   func() error { return sig.Verify(pub, now, "POST", "/v1/internal/steps", []byte(`{"txn_id":"t-2"}`)) },
		"another path":   func() error { return sig.Verify(pub, now, "POST", "/v1/internal/notices", body) },
		"another method": func() error { return sig.Verify(pub, now, "PUT", "/v1/internal/steps", body) },
		"another id": func() error {
			s := sig
			s.ID = "n2"
			return s.Verify(pub, now, "POST", "/v1/internal/steps", body)
		},
		"another key": func() error {
			op, _ := ParsePublic(other.Public())
			return sig.Verify(op, now, "POST", "/v1/internal/steps", body)
		},
	}
	for name, verify := range cases {
		require.ErrorIs(t, verify(), ErrBadSignature, name)
	}
	require.ErrorIs(t, sig.Verify(pub, now.Add(MaxSkew+time.Second), "POST", "/v1/internal/steps", body), ErrExpired)
	require.ErrorIs(t, sig.Verify(pub, now.Add(-MaxSkew-time.Second), "POST", "/v1/internal/steps", body), ErrExpired)
}

func TestParseRefusesMalformedHeaders(t *testing.T) {
	for _, h := range []string{"", "id=n1", "id=n1, t=x, sig=AAAA", "id=n1, t=1, sig=AAAA", "id=, t=1, sig=" + string(make([]byte, 86)),
		"id=n1, t=1, sig=AAAA, extra=1", "garbage"} {
		_, err := Parse(h)
		require.ErrorIs(t, err, ErrMalformed, h)
	}
	_, err := ParsePublic("ed25519:AAAA")
	require.Error(t, err)
	_, err = ParsePublic("rsa:AAAA")
	require.Error(t, err)
}

// FuzzParse: any header parses or is refused as malformed, never panics,
// and a parsed one never verifies with a key that did not sign it.
func FuzzParse(f *testing.F) {
	f.Add("id=n1, t=1800000000, sig=" + strings.Repeat("A", 86))
	f.Add("id=n1,t=1,sig=")
	f.Add("id=../../evil, t=-1, sig=AAAA")
	f.Add(",,,=")
	pub, err := ParsePublic(NodeKeyForFuzz)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, h string) {
		sig, err := Parse(h)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		require.Error(t, sig.Verify(pub, time.Unix(sig.T, 0), "POST", "/v1/internal/steps", nil))
	})
}

// NodeKeyForFuzz is a public key nobody holds the private half of.
const NodeKeyForFuzz = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

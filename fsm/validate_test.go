package fsm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateDigest(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	const pair = `invalid: an artifact's URL and its sha256 digest go together: give both or neither`
	cases := []struct {
		name, url, sha, err string
	}{
		{"no artifact", "", "", ""},
		{"url and digest", "https://example.com/b.tgz", sha, ""},
		{"url without digest", "https://example.com/b.tgz", "", pair},
		{"digest without url", "", sha, pair},
		{"upper-case digest", "file:///b.tgz", strings.ToUpper(sha), `invalid: sha256 "` + strings.ToUpper(sha) + `": want 64 lower-case hex digits`},
		{"short digest", "file:///b.tgz", "abc", `invalid: sha256 "abc": want 64 lower-case hex digits`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateDigest(tc.url, tc.sha)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			require.EqualError(t, err, tc.err)
		})
	}
}

func TestValidateOnFailure(t *testing.T) {
	for _, ok := range []string{OnFailureHalt, OnFailureRollback} {
		require.NoError(t, ValidateOnFailure(ok), ok)
	}
	for _, bad := range []string{"", "pray", "HALT", " halt"} {
		err := ValidateOnFailure(bad)
		require.ErrorIs(t, err, ErrInvalid, bad)
		require.EqualError(t, err, `invalid: on-failure "`+bad+`": want halt or rollback`)
	}
}

// TestIDsShareOneRule: member and transaction ids follow the same rule,
// each error naming which id it is about.
func TestIDsShareOneRule(t *testing.T) {
	good := []string{"n1", "t-20260301-120000-abcdef", "a.b_c-d", "9", strings.Repeat("x", 64)}
	bad := []string{"", "-n1", ".n1", "n 1", "n/1", "n1\x00", strings.Repeat("x", 65), "é"}
	for _, id := range good {
		require.NoError(t, ValidateID(id), id)
		require.NoError(t, ValidateTxnID(id), id)
	}
	for _, id := range bad {
		err := ValidateID(id)
		require.ErrorIs(t, err, ErrInvalid, id)
		require.Contains(t, err.Error(), "member id")
		err = ValidateTxnID(id)
		require.ErrorIs(t, err, ErrInvalid, id)
		require.Contains(t, err.Error(), "transaction id")
	}
}

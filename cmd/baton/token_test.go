package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), perm))
		require.NoError(t, os.Chmod(p, perm))
		return p
	}
	tok, warning, err := readTokenFile(write("private", "  s3cret-token\n", 0o600))
	require.NoError(t, err)
	require.Equal(t, "s3cret-token", tok)
	require.Empty(t, warning)

	open := write("open", "s3cret-token\n", 0o644)
	tok, warning, err = readTokenFile(open)
	require.NoError(t, err)
	require.Equal(t, "s3cret-token", tok)
	require.Equal(t, "token file "+open+" is open to other users (mode 0644): chmod 600 "+open, warning)

	for name, content := range map[string]string{"empty": "\n \n", "two-lines": "secret-a\nsecret-b\n"} {
		_, _, err := readTokenFile(write(name, content, 0o600))
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), "secret-a", "the error quotes no content")
	}
	_, _, err = readTokenFile(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, _, err = readTokenFile(dir)
	require.ErrorContains(t, err, "not a regular file")
}

// --token-file sets the token the command sends; with --token as well it
// is a usage error.
func TestTokenFileFlag(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(path, []byte("s3cret\n"), 0o600))
	var out, errOut bytes.Buffer
	code := run([]string{"baton", "members", "--addr", "127.0.0.1:1", "--token", "x", "--token-file", path}, &out, &errOut)
	require.Equal(t, 2, code, errOut.String())
	require.Contains(t, errOut.String(), "not both")
}

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// `baton agent --client` needs --id, --data-dir and --join, and refuses a
// server's flags, naming the flag; nothing is created for a refused start.
func TestClientAgentFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no join", []string{"--id", "c1"}, "agent --client: --join is required"},
		{"no id", []string{"--join", "127.0.0.1:1"}, "agent --client: --id is required"},
		{"raft addr", []string{"--id", "c1", "--join", "127.0.0.1:1", "--raft-addr", "127.0.0.1:2"}, "--raft-addr is a server's flag"},
		{"http addr", []string{"--id", "c1", "--join", "127.0.0.1:1", "--http-addr", "127.0.0.1:2"}, "--http-addr is a server's flag"},
		{"bootstrap", []string{"--id", "c1", "--join", "127.0.0.1:1", "--bootstrap"}, "--bootstrap is a server's flag"},
		{"empty join", []string{"--id", "c1", "--join", " , "}, "--join names no server address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"agent", "--client", "--data-dir", dir}, tc.args...)
			code, _, errOut := runBaton(t, args...)
			require.Equal(t, 2, code, "a bad flag is a usage error: %s", errOut)
			require.Contains(t, errOut, tc.want)
			_, err := os.Stat(dir)
			require.True(t, os.IsNotExist(err), "a refused start created its data dir")
		})
	}
}

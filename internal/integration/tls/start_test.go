package tls

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

// An agent refuses to start with TLS files that cannot serve, with one
// line that names the file and what is wrong, and exit status 1; a TLS
// flag without the other two is a usage error (2). Nothing is started.
func TestAnAgentRefusesTLSFilesThatCannotServe(t *testing.T) {
	dir := t.TempDir()
	ca, err := procs.NewCA(filepath.Join(dir, "ca"), "the cluster's CA")
	require.NoError(t, err)
	other, err := procs.NewCA(filepath.Join(dir, "other"), "another CA")
	require.NoError(t, err)
	n1, err := ca.Node("n1")
	require.NoError(t, err)
	n2, err := ca.Node("n2")
	require.NoError(t, err)
	foreign, err := other.Node("n1")
	require.NoError(t, err)
	expired, err := ca.Issue("old", []string{"127.0.0.1"}, procs.CertOptions{NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	require.NoError(t, err)

	cases := []struct {
		name           string
		id             string
		cert, key, caf string
		code           int
		want           string
	}{
		{"cert alone", "n1", n1.CertFile, "", "", 2, "TLS needs --tls-cert, --tls-key and --tls-ca together; missing [--tls-key --tls-ca]"},
		{"unreadable key", "n1", n1.CertFile, filepath.Join(dir, "absent.pem"), ca.CertFile, 1, "no such file or directory"},
		{"wrong key", "n1", n1.CertFile, n2.KeyFile, ca.CertFile, 1, "private key does not match public key"},
		{"expired", "old", expired.CertFile, expired.KeyFile, ca.CertFile, 1, "expired at"},
		{"another CA", "n1", foreign.CertFile, foreign.KeyFile, ca.CertFile, 1, "not signed by the CA of --tls-ca"},
		{"another member's certificate", "n1", n2.CertFile, n2.KeyFile, ca.CertFile, 1, `names CN="n2", but this agent's --id is "n1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"agent", "--id", tc.id, "--data-dir", filepath.Join(t.TempDir(), "data"), "--raft-addr", "127.0.0.1:0",
				"--http-addr", "127.0.0.1:0", "--bootstrap"}
			for flag, file := range map[string]string{"--tls-cert": tc.cert, "--tls-key": tc.key, "--tls-ca": tc.caf} {
				if file != "" {
					args = append(args, flag, file)
				}
			}
			res := procs.RunCLI(t, batonBin, nil, args...)
			require.Equal(t, tc.code, res.Code, res.Stderr)
			require.Contains(t, res.Stderr, tc.want)
			require.Len(t, strings.Split(strings.TrimSpace(res.Stderr), "\n"), 1, "one line: %s", res.Stderr)
		})
	}
}

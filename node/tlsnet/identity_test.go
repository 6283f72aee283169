package tlsnet

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

// pki is a CA, a second CA and the certificates the tests need.
type pki struct {
	ca, other *procs.CA
	dir       string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := procs.NewCA(filepath.Join(dir, "ca"), "baton test CA")
	require.NoError(t, err)
	other, err := procs.NewCA(filepath.Join(dir, "other"), "another CA")
	require.NoError(t, err)
	return pki{ca: ca, other: other, dir: dir}
}

func (p pki) issue(t *testing.T, ca *procs.CA, cn string, opts procs.CertOptions) procs.Leaf {
	t.Helper()
	leaf, err := ca.Issue(cn, []string{"127.0.0.1", "localhost"}, opts)
	require.NoError(t, err)
	return leaf
}

func (p pki) files(leaf procs.Leaf) Files {
	return Files{Cert: leaf.CertFile, Key: leaf.KeyFile, CA: p.ca.CertFile}
}

func TestLoadRefusesWhatCannotServe(t *testing.T) {
	p := newPKI(t)
	good := p.issue(t, p.ca, "n1", procs.CertOptions{})
	n2 := p.issue(t, p.ca, "n2", procs.CertOptions{})
	expired := p.issue(t, p.ca, "expired", procs.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future := p.issue(t, p.ca, "future", procs.CertOptions{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	serverOnly := p.issue(t, p.ca, "serveronly", procs.CertOptions{Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	foreign := p.issue(t, p.other, "foreign", procs.CertOptions{})
	garbage := filepath.Join(p.dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate\n"), 0o600))

	cases := []struct {
		name  string
		files Files
		id    string
		want  string
	}{
		{"cert without key", Files{Cert: good.CertFile, CA: p.ca.CertFile}, "n1", "missing [--tls-key]"},
		{"key alone", Files{Key: good.KeyFile}, "n1", "missing [--tls-cert --tls-ca]"},
		{"unreadable cert", Files{Cert: filepath.Join(p.dir, "none.pem"), Key: good.KeyFile, CA: p.ca.CertFile}, "n1", "no such file"},
		{"unreadable CA", Files{Cert: good.CertFile, Key: good.KeyFile, CA: filepath.Join(p.dir, "none.pem")}, "n1", "--tls-ca"},
		{"CA file without a certificate", Files{Cert: good.CertFile, Key: good.KeyFile, CA: garbage}, "n1", "no PEM certificate"},
		{"wrong key for the cert", Files{Cert: good.CertFile, Key: n2.KeyFile, CA: p.ca.CertFile}, "n1", "private key does not match public key"},
		{"expired", p.files(expired), "expired", "expired at"},
		{"not yet valid", p.files(future), "future", "not valid before"},
		{"signed by another CA", p.files(foreign), "foreign", "not signed by the CA of --tls-ca"},
		{"server use only", p.files(serverOnly), "serveronly", "not for clientAuth"},
		{"another member's certificate", p.files(n2), "n1", `names CN="n2", but this agent's --id is "n1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.files, tc.id)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
	ident, err := Load(p.files(good), "n1")
	require.NoError(t, err)
	require.Equal(t, "n1", ident.Name())
}

func TestReloadKeepsTheOldPairWhenTheNewOneFails(t *testing.T) {
	p := newPKI(t)
	first := p.issue(t, p.ca, "n1", procs.CertOptions{NotAfter: time.Now().Add(2 * time.Hour)})
	ident, err := Load(p.files(first), "n1")
	require.NoError(t, err)
	before := ident.NotAfter()

	// A pair of another CA written over the files is refused; the old one
	// stays in use.
	foreign := p.issue(t, p.other, "n1", procs.CertOptions{})
	copyFile(t, foreign.CertFile, first.CertFile)
	copyFile(t, foreign.KeyFile, first.KeyFile)
	require.ErrorContains(t, ident.Reload(), "not signed by the CA")
	require.Equal(t, before, ident.NotAfter())

	// A good new pair is taken.
	renewed := p.issue(t, p.ca, "n1", procs.CertOptions{NotAfter: time.Now().Add(72 * time.Hour)})
	copyFile(t, renewed.CertFile, first.CertFile)
	copyFile(t, renewed.KeyFile, first.KeyFile)
	require.NoError(t, ident.Reload())
	require.True(t, ident.NotAfter().After(before.Add(24*time.Hour)))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

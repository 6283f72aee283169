package tls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

// SIGHUP reloads the node certificate: a renewed pair written over the
// files is what new connections see, and a pair that does not check (of
// another CA) is refused with the old one kept in use.
func TestSIGHUPReloadsTheCertificate(t *testing.T) {
	c, _ := tlsCluster(t, 1)
	a := c.Agents[0]
	first := servedCert(t, c, a)

	leaf, err := c.CA.Node(a.ID) // overwrites n1.pem and n1-key.pem
	require.NoError(t, err)
	renewed := readCert(t, leaf.CertFile)
	require.NotEqual(t, first.SerialNumber, renewed.SerialNumber)
	require.NoError(t, a.Signal(syscall.SIGHUP))
	procs.Eventually(t, 20*time.Second, func() error {
		if servedCert(t, c, a).SerialNumber.Cmp(renewed.SerialNumber) != 0 {
			return errors.New("the agent still serves its first certificate")
		}
		return nil
	})

	// A pair of another CA is refused; the renewed one stays.
	other, err := procs.NewCA(t.TempDir(), "another CA")
	require.NoError(t, err)
	foreign, err := other.Node(a.ID)
	require.NoError(t, err)
	for from, to := range map[string]string{foreign.CertFile: leaf.CertFile, foreign.KeyFile: leaf.KeyFile} {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(to, b, 0o600))
	}
	require.NoError(t, a.Signal(syscall.SIGHUP))
	procs.Eventually(t, 20*time.Second, func() error {
		if !bytes.Contains([]byte(procs.Tail(a.LogPath, 1000)), []byte("certificate not reloaded")) {
			return errors.New("no refusal logged yet")
		}
		return nil
	})
	require.Zero(t, servedCert(t, c, a).SerialNumber.Cmp(renewed.SerialNumber))
	require.False(t, a.Exited())
}

// servedCert is the certificate a's API presents on a new connection.
func servedCert(t *testing.T, c *procs.Cluster, a *procs.Agent) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", a.HTTPAddr, c.ClientTLS())
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

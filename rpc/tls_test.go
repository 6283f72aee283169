package rpc

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node/tlsnet"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// PeerCertName names the member id of a caller whose certificate the CA
// signed, and nothing for a caller without one.
func TestPeerCertNameNamesOnlyAVerifiedCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, err := procs.NewCA(filepath.Join(dir, "ca"), "test CA")
	require.NoError(t, err)
	ident := loadIdentity(t, ca, "n1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{TLSConfig: ident.APIServerConfig(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := PeerCertName(r)
		if !ok {
			name = "-"
		}
		_, _ = io.WriteString(w, name)
	})}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	url := "https://" + ln.Addr().String()

	get := func(conf *tls.Config) string {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
		resp, err := c.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	// Another agent, calling with its node certificate.
	require.Equal(t, "n2", get(loadIdentity(t, ca, "n2").ClientConfig()))
	// A client that trusts the CA but presents no certificate (the CLI).
	anon, err := api.ClientTLS(ca.CertFile, "", "")
	require.NoError(t, err)
	require.Equal(t, "-", get(anon))

	// Over plain HTTP there is no name.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	_, ok := PeerCertName(r)
	require.False(t, ok)
}

func loadIdentity(t *testing.T, ca *procs.CA, id string) *tlsnet.Identity {
	t.Helper()
	leaf, err := ca.Node(id)
	require.NoError(t, err)
	ident, err := tlsnet.Load(tlsnet.Files{Cert: leaf.CertFile, Key: leaf.KeyFile, CA: ca.CertFile}, id)
	require.NoError(t, err)
	return ident
}

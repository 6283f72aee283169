package rpc

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/stretchr/testify/require"
)

// Over TLS, a connection past the per-client limit is answered 429 inside
// a TLS session, so that a client hears "too many connections" rather than
// a plain-text answer it reads as an agent that speaks plain HTTP.
func TestPerClientLimitAnswersInsideTLS(t *testing.T) {
	certSrv := httptest.NewUnstartedServer(nil)
	certSrv.StartTLS()
	serverTLS := certSrv.TLS.Clone()
	pool := x509.NewCertPool()
	pool.AddCert(certSrv.Certificate())
	certSrv.Close()

	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	l := quickLimits()
	l.MaxConnsPerClient = 1
	l.TLS = serverTLS
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := l.Server(NewServer(b, ServerOptions{}))
	srv.TLSConfig = serverTLS
	go func() { _ = srv.ServeTLS(l.Listener(ln), "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	clientTLS := &tls.Config{RootCAs: pool, ServerName: "example.com"}
	held, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	require.NoError(t, err, "the first connection is admitted")
	t.Cleanup(func() { held.Close() })

	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), clientTLS)
	require.NoError(t, err, "the refused connection still completes its handshake")
	answer := endsWithin(t, c, 5*time.Second)
	require.Contains(t, answer, "429 Too Many Requests")
	require.Contains(t, answer, `"code":"too_many_requests"`)
}

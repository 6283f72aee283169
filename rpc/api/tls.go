package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// The ways a client and an agent fail to agree on TLS. Each is wrapped
// together with ErrUnreachable: the request never reached the API, so
// nothing was applied.
var (
	// ErrUnknownAuthority: the agent's certificate is not signed by a CA the
	// client trusts (none was given, or another one).
	ErrUnknownAuthority = errors.New("the agent's certificate is signed by an authority this client does not trust")
	// ErrCertificateName: the agent's certificate does not name the host or
	// IP address it was reached at.
	ErrCertificateName = errors.New("the agent's certificate does not name the address it was reached at")
	// ErrAgentSpeaksHTTPS: the client spoke plain HTTP to an agent that
	// serves HTTPS.
	ErrAgentSpeaksHTTPS = errors.New("the agent serves HTTPS, this client spoke plain HTTP")
	// ErrAgentSpeaksHTTP: the client spoke HTTPS to an agent that serves
	// plain HTTP.
	ErrAgentSpeaksHTTP = errors.New("the agent serves plain HTTP, this client spoke HTTPS")
	// ErrTLSHandshake: the TLS handshake failed otherwise, such as a client
	// certificate the agent refused.
	ErrTLSHandshake = errors.New("TLS handshake failed")
)

// httpsRefusal is what net/http's server answers (status 400) to a plain
// HTTP request on its TLS port.
const httpsRefusal = "Client sent an HTTP request to an HTTPS server"

// minTLS is the oldest TLS version Baton speaks; Go prefers 1.3 when both
// sides have it.
const minTLS = tls.VersionTLS12

// ClientTLS returns the TLS configuration of a client that trusts the
// agents' CA in the PEM file caFile and, when certFile and keyFile are
// given (both or neither), presents that certificate. An unreadable or
// empty file is an error naming it.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, errors.New("a CA certificate file is required for TLS")
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a client certificate needs both its certificate and its key file")
	}
	pool, err := LoadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{RootCAs: pool, MinVersion: minTLS}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s with key %s: %w", certFile, keyFile, err)
		}
		// Always presented, even when the agent names other CAs as
		// acceptable: the agent then refuses it, and the client says so,
		// rather than calling on without it.
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return conf, nil
}

// LoadCAPool reads the PEM certificates of file into a pool; a file with
// none is an error.
func LoadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// transports holds one HTTP transport per TLS configuration, so that the
// clients made for one configuration share their connections (and their
// TLS sessions) instead of opening and leaking new ones for every call.
var transports sync.Map // *tls.Config -> *http.Transport

func transportFor(conf *tls.Config) *http.Transport {
	if t, ok := transports.Load(conf); ok {
		return t.(*http.Transport)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = conf
	t.TLSHandshakeTimeout = 10 * time.Second
	actual, _ := transports.LoadOrStore(conf, t)
	return actual.(*http.Transport)
}

// tlsFailure names the TLS disagreement behind a failed request, or
// returns nil when err is not one.
func tlsFailure(err error) error {
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return ErrUnknownAuthority
	case errors.As(err, &name):
		return ErrCertificateName
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"), errors.As(err, &record):
		return ErrAgentSpeaksHTTP
	case errors.As(err, &verify), strings.Contains(err.Error(), "remote error: tls:"):
		return ErrTLSHandshake
	}
	return nil
}

// wrapTLS wraps a request's failure that is a TLS disagreement with its
// sentinel and ErrUnreachable.
func (c *Client) wrapTLS(err error) error {
	kind := tlsFailure(err)
	if kind == nil {
		return nil
	}
	return fmt.Errorf("agent at %s: %w (%w): %v", c.addr, kind, ErrUnreachable, err)
}

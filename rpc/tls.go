package rpc

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// PeerCertName is the CommonName of the client certificate the caller of r
// presented, and true, when the agent serves HTTPS and the certificate was
// verified against the agent's CA (--tls-ca). A node certificate names its
// member id in the CommonName (docs/tls.md), so for a call from another
// agent the name is that member's id: agents present their certificate on
// every call they make to each other (joins, writes forwarded to the
// leader, the coordinator's step, probe and service calls, completion
// notices, reports). It returns "", false for a request over plain HTTP,
// one without a certificate (the CLI, scripts) and one whose certificate
// has an empty CommonName. A name says who holds a certificate of the
// cluster's CA, not what it may do: deciding that is the caller's.
//
// For a request forwarded to the leader, the name is the forwarding
// agent's, not the original client's.
func PeerCertName(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", false
	}
	name := r.TLS.VerifiedChains[0][0].Subject.CommonName
	return name, name != ""
}

// forwardClient is the HTTP client a server forwards writes to the leader
// with: over HTTPS with conf (presenting the node's certificate) when conf
// is set.
func forwardClient(conf *tls.Config) *http.Client {
	c := &http.Client{Timeout: api.MaxWait + 30*time.Second}
	if conf != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = conf
		c.Transport = t
	}
	return c
}

// agentScheme is the scheme of other agents' APIs: the catalogue holds
// their bare HOST:PORT, which means HTTPS on an agent with TLS.
func (s *Server) agentScheme() string {
	if s.opts.ClientTLS != nil {
		return "https"
	}
	return "http"
}

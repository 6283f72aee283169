package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/baton-upgrade/baton/node/tlsnet"
	"github.com/hashicorp/go-hclog"
)

// serveAPI serves the agent's API on ln: over HTTPS with the node's
// certificate when ident is set (a client certificate is verified when one
// is given; rpc.PeerCertName names it), over plain HTTP otherwise.
//
// net/http's own complaints (a failed handshake: a client that does not
// trust the CA, a plain TCP probe such as node/failover's) go to log at
// debug level, rather than unformatted onto stderr.
func serveAPI(srv *http.Server, ln net.Listener, ident *tlsnet.Identity, log hclog.Logger) error {
	if ident == nil {
		return srv.Serve(ln)
	}
	srv.ErrorLog = log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})
	srv.TLSConfig = ident.APIServerConfig()
	// HTTP/1.1 only, as over plain HTTP: the limits (rpc.HTTPLimits) count
	// and time connections, which HTTP/2 would multiplex.
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	return srv.ServeTLS(ln, "", "")
}

// reloadCertificate reads --tls-cert and --tls-key again (SIGHUP): new
// connections, of the API and of Raft, then use the new pair. A pair that
// does not load or check leaves the old one in use.
func reloadCertificate(ident *tlsnet.Identity, log hclog.Logger) {
	if ident == nil {
		return
	}
	if err := ident.Reload(); err != nil {
		log.Error("SIGHUP: certificate not reloaded; the old one stays in use", "error", err)
		return
	}
	log.Info("SIGHUP: certificate reloaded", "expires", ident.NotAfter().UTC().Format(time.RFC3339))
}

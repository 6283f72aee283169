package node

import (
	"crypto/tls"

	"github.com/baton-upgrade/baton/rpc/api"
)

// client is a client of the agent at addr (its own or another's API) as
// this agent calls it: with its token, every request signed with its node
// key (identity.go) and, under TLS, over HTTPS with its node certificate
// (so a bare HOST:PORT means HTTPS).
func (a *Agent) client(addr string) *api.Client {
	return api.NewClientTLS(addr, a.cfg.Token, a.ClientTLS()).WithHook(a.SignRequest)
}

// ClientTLS is the TLS configuration of this agent's calls to other agents:
// it verifies them against the CA and presents this node's certificate;
// nil without TLS. The same configuration is returned every time, so
// clients made with it share their connections.
func (a *Agent) ClientTLS() *tls.Config {
	return a.clientTLS
}

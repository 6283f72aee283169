package rpc

import (
	"net/http"

	"github.com/baton-upgrade/baton/rpc/acl"
)

// Route scopes beyond the three of package acl.
const (
	// scopePublic is a route anyone may use, whatever the policy: the web
	// page's static files, and the answer to an unknown route.
	scopePublic acl.Scope = "public"
	// scopeAll is what an unclassified route needs: every scope at once,
	// which only the shared --token holds (or everyone, on an agent with no
	// token at all). A route missing from routeScopes is therefore closed
	// to every named token until it is classified.
	scopeAll acl.Scope = "all"
)

// routeRule is what one route needs: the scope, and whether it is a write
// (audited).
type routeRule struct {
	Scope acl.Scope
	Write bool
}

func readRoute() routeRule             { return routeRule{Scope: acl.Read} }
func writeRoute(s acl.Scope) routeRule { return routeRule{Scope: s, Write: true} }

// routeScopes is the one table of which scope each route of the API needs
// (docs/security.md prints it). Every route the server registers must be
// here: TestEveryRouteHasAScope fails for one that is not, and until it
// is, the route needs scopeAll.
var routeScopes = map[string]routeRule{
	// The catalogue and the cluster.
	"GET /v1/members":                     readRoute(),
	"POST /v1/members":                    writeRoute(acl.Agent), // join
	"DELETE /v1/members/{id}":             writeRoute(acl.Operator),
	"POST /v1/members/{id}/status":        writeRoute(acl.Agent),
	"POST /v1/members/{id}/version_error": writeRoute(acl.Agent),
	"POST /v1/members/{id}/key":           writeRoute(acl.Agent),
	"POST /v1/members/{id}/service":       writeRoute(acl.Agent),
	"GET /v1/leader":                      readRoute(),
	"POST /v1/leader/transfer":            writeRoute(acl.Operator),
	"GET /v1/health":                      readRoute(),
	"GET /v1/protocol":                    readRoute(),
	"GET /v1/operator/raft":               readRoute(),
	"GET /v1/metrics":                     readRoute(),
	"GET /v1/events":                      readRoute(),
	// Upgrade transactions.
	"GET /v1/ring":                  readRoute(),
	"PUT /v1/ring":                  writeRoute(acl.Operator),
	"GET /v1/gateways":              readRoute(),
	"POST /v1/gateways":             writeRoute(acl.Gateway), // register
	"POST /v1/gateways/{name}/seen": writeRoute(acl.Gateway),
	"DELETE /v1/gateways/{name}":    writeRoute(acl.Gateway), // leave

	"GET /v1/upgrades":                readRoute(),
	"POST /v1/upgrades":               writeRoute(acl.Operator), // start
	"POST /v1/upgrades/plan":          readRoute(),              // changes nothing
	"GET /v1/upgrades/{id}":           readRoute(),
	"POST /v1/upgrades/{id}/{action}": writeRoute(acl.Operator), // pause, resume, retry, abort
	"GET /v1/upgrades/{id}/logs":      readRoute(),
	// Between agents.
	"POST /v1/internal/notices":                      writeRoute(acl.Agent),
	"POST /v1/clients":                               writeRoute(acl.Agent), // a client agent registers
	"POST /v1/clients/{id}/poll":                     {Scope: acl.Agent},    // a client's long poll: frequent, not audited
	"POST /v1/internal/steps":                        writeRoute(acl.Agent),
	"GET /v1/internal/steps/{txn}/{attempt}":         {Scope: acl.Agent},
	"POST /v1/internal/steps/{txn}/{attempt}/cancel": writeRoute(acl.Agent),
	"GET /v1/internal/steps/{txn}/logs":              {Scope: acl.Agent},
	"GET /v1/internal/diagnostic":                    {Scope: acl.Agent}, // may run the health hook
	"GET /v1/internal/service":                       {Scope: acl.Agent}, // runs the role and lag hooks
	"POST /v1/internal/service/{action}":             writeRoute(acl.Agent),
	// Artifacts held by the cluster (artifacts.go): a push is an operator's
	// write; a node fetches an artifact like any read; servers copy and
	// record them between themselves.
	"PUT /v1/artifacts/{ref}":                     writeRoute(acl.Operator),
	"GET /v1/artifacts":                           readRoute(),
	"GET /v1/artifacts/{ref}":                     readRoute(),
	"POST /v1/internal/artifacts/{ref}/replicate": writeRoute(acl.Agent),
	"POST /v1/internal/artifacts/records":         writeRoute(acl.Agent),
	// The web page (static files; its calls are the routes above).
	"GET /ui/": {Scope: scopePublic},
	"GET /ui":  {Scope: scopePublic},
	"/":        {Scope: scopePublic}, // unknown routes: 404
}

// ruleOf returns the rule of a registered route pattern: scopeAll for one
// the table does not classify.
func ruleOf(pattern string) routeRule {
	if r, ok := routeScopes[pattern]; ok {
		return r
	}
	return routeRule{Scope: scopeAll, Write: true}
}

// routeMux is the server's ServeMux: every route registered through it is
// guarded by its rule from routeScopes (identity, scope, audit), so a route
// cannot be added without its check.
type routeMux struct {
	*http.ServeMux
	s        *Server
	patterns []string
}

// Handle registers h for pattern behind the route's guard.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, m.s.guard(pattern, h))
}

// HandleFunc registers f for pattern behind the route's guard.
func (m *routeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

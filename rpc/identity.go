package rpc

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/acl"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
)

// SharedTokenName is how the audit log names the holder of --token.
const SharedTokenName = "token"

// InvalidTokenName is how the audit log names a caller whose bearer token
// matched none (it is refused).
const InvalidTokenName = "invalid-token"

// Caller is who sent a request, as far as this agent could verify it.
// Identity is only ever taken from credentials the agent checks itself (a
// bearer secret, a node signature, a verified certificate), never from a
// header another agent asserts: a forwarded request keeps its caller's
// credentials, and the leader checks them again.
type Caller struct {
	// Token names the bearer token: an --acl-file token's name, or
	// SharedTokenName for --token; empty without one.
	Token string
	// Node is the member id the request proved: by a node signature
	// (nodeauth) checked against the key on record, or by a verified
	// client certificate's name (ServerOptions.PeerName).
	Node string
	// Via is the agent that says it forwarded the request (the
	// X-Baton-Forwarded-By header), for the audit log only.
	Via   string
	scope acl.Scope
	all   bool
}

// Name is the caller as the audit log names it: the node id, else the
// token's name, else "anonymous".
func (c Caller) Name() string {
	switch {
	case c.Node != "":
		return c.Node
	case c.Token != "":
		return c.Token
	}
	return "anonymous"
}

// Grants reports whether the caller may use a route that needs need. A
// proven node holds the agent scope.
func (c Caller) Grants(need acl.Scope) bool {
	switch {
	case need == scopePublic || c.all:
		return true
	case need == scopeAll:
		return false
	case c.Node != "" && acl.Agent.Grants(need):
		return true
	}
	return c.scope.Grants(need)
}

type callerKey struct{}

type bearerKey struct{}

// BearerOf returns the bearer secret of the API request ctx was made for
// ("" for none): a backend that must pass an operator's request on to
// another agent (the leader removing itself hands the removal to the next
// leader) sends the operator's credentials, not its own.
func BearerOf(ctx context.Context) string {
	s, _ := ctx.Value(bearerKey{}).(string)
	return s
}

// callerOf returns the caller the route's guard resolved.
func callerOf(r *http.Request) Caller {
	if a, ok := r.Context().Value(callerKey{}).(*auditEntry); ok {
		return a.caller
	}
	return Caller{}
}

// authOn reports whether this agent checks credentials at all: with
// neither --token nor --acl-file every caller may do everything, as
// before either existed (node identities are still checked).
func (s *Server) authOn() bool { return s.opts.Token != "" || s.opts.ACL != nil }

// identify resolves the caller of r. A bearer secret that matches no
// token, or a node signature that does not verify with the key on record,
// is an error (403): a caller that presents a credential gets it checked.
func (s *Server) identify(r *http.Request, body []byte) (Caller, error) {
	c := Caller{Via: r.Header.Get(api.ForwardedHeader)}
	if !s.authOn() {
		c.all = true
	} else if err := s.bearer(r, &c); err != nil {
		return c, err
	}
	node, err := s.nodeIdentity(r, body)
	c.Node = node
	return c, err
}

func (s *Server) bearer(r *http.Request, c *Caller) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		c.scope = acl.Read
		if s.opts.ACL != nil {
			c.scope = s.opts.ACL.Anonymous
		}
		return nil
	}
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return fmt.Errorf("%w: the Authorization header is not a bearer token", api.ErrForbidden)
	}
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.Token)) == 1 {
		c.Token, c.all = SharedTokenName, true
		return nil
	}
	if s.opts.ACL != nil {
		if t, ok := s.opts.ACL.Lookup(secret); ok {
			c.Token, c.scope = t.Name, t.Scope
			return nil
		}
	}
	c.Token = InvalidTokenName
	return fmt.Errorf("%w: the token is not valid for this cluster", api.ErrForbidden)
}

// nodeIdentity returns the member id r proves, or "". This is the one
// place a node's identity comes from: a node signature (which survives
// forwarding, since it covers the request and not the connection), else
// the verified client certificate of the connection when the request was
// not forwarded (PeerName; with TLS, docs/tls.md). A signature by a member
// with no key on record proves nothing (a first join proves its key by
// itself, see join).
func (s *Server) nodeIdentity(r *http.Request, body []byte) (string, error) {
	v := r.Header.Get(nodeauth.Header)
	if v == "" {
		if s.opts.PeerName != nil && r.Header.Get(api.ForwardedHeader) == "" {
			return s.certifiedMember(s.opts.PeerName(r)), nil
		}
		return "", nil
	}
	sig, err := nodeauth.Parse(v)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", api.ErrForbidden, nodeauth.Header, err)
	}
	key := s.nodeKey(sig.ID)
	if key == "" {
		return "", nil
	}
	if err := verifySignature(r, body, sig, key); err != nil {
		return "", fmt.Errorf("%w: the request's node signature as %q: %v (a node whose %s was lost or replaced is removed "+
			"with baton members remove ID --force, and joins again)", api.ErrForbidden, clipID(sig.ID), err, nodeauth.KeyFile)
	}
	return sig.ID, nil
}

// certifiedMember returns name, the name of a verified certificate, when
// it is a member of the catalogue: a certificate proves a node's identity
// only for a member, so a client certificate of another name (an
// operator's) holds no agent scope.
func (s *Server) certifiedMember(name string) string {
	if name == "" {
		return ""
	}
	var ok bool
	s.b.FSM().View(func(st *fsm.State) { _, ok = st.Members[name] })
	if !ok {
		return ""
	}
	return name
}

// verifySignature checks sig over r and its body with the public key key.
func verifySignature(r *http.Request, body []byte, sig nodeauth.Signature, key string) error {
	pub, err := nodeauth.ParsePublic(key)
	if err != nil {
		return err
	}
	return sig.Verify(pub, time.Now(), r.Method, r.URL.RequestURI(), body)
}

// bodyOf returns the body the route's guard kept for signature checks
// (nil when the request carries no node signature).
func bodyOf(r *http.Request) []byte {
	if a, ok := r.Context().Value(callerKey{}).(*auditEntry); ok {
		return a.body
	}
	return nil
}

// peekBody returns r's body (already read whole by ServeHTTP) and leaves
// it to be read again, its read error included.
func peekBody(r *http.Request) []byte {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
	return body
}

// nodeKey is the public key on record for member id in this agent's
// replica, or "".
func (s *Server) nodeKey(id string) string {
	var key string
	s.b.FSM().View(func(st *fsm.State) { key = st.Members[id].NodeKey })
	return key
}

func clipID(id string) string {
	if len(id) > 64 {
		return id[:64]
	}
	return id
}

// guard wraps a route's handler: it resolves the caller, refuses one the
// route's rule does not admit (401 anonymous, 403 otherwise), and writes
// the audit line of every write, refused ones included.
func (s *Server) guard(pattern string, h http.Handler) http.Handler {
	rule := ruleOf(pattern)
	if rule.Scope == scopePublic {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Header.Get(nodeauth.Header) != "" {
			body = peekBody(r)
		}
		c, err := s.identify(r, body)
		if err == nil && !c.Grants(rule.Scope) {
			err = s.refusal(c, rule.Scope, pattern)
		}
		entry := &auditEntry{caller: c, route: pattern, body: body}
		ctx := context.WithValue(r.Context(), callerKey{}, entry)
		if secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			ctx = context.WithValue(ctx, bearerKey{}, secret)
		}
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		if err != nil {
			writeError(sw, err)
		} else {
			h.ServeHTTP(sw, r)
		}
		if rule.Write {
			s.audit(r, entry, sw.status(), err)
		}
	})
}

// refusal is the error for a caller without the scope a route needs.
func (s *Server) refusal(c Caller, need acl.Scope, pattern string) error {
	what := fmt.Sprintf("the %s scope", need)
	if need == scopeAll {
		what = "a scope no token of the ACL file grants (the route is not classified; only --token may call it)"
	}
	if c.Token == "" && c.Node == "" {
		return fmt.Errorf("%w: this agent requires a token with %s for %s (--token, --token-file or BATON_TOKEN)", api.ErrUnauthorized, what, pattern)
	}
	return fmt.Errorf("%w: %s needs %s; %s does not hold it", api.ErrForbidden, pattern, what, c.Name())
}

// requireLeader refuses a request that does not come from the Raft leader
// as this agent's replica knows it: a step delivery, a cancel, a service
// action. While the leader has no key on record (a cluster of an older
// protocol, or an older build's leader) and no certificates are checked,
// the scope check alone stands, as before node identities existed.
func (s *Server) requireLeader(r *http.Request, what string) error {
	leader, _ := s.b.Leader()
	if leader == "" {
		return fmt.Errorf("%w: %s knows no leader, and accepts %s only from the leader", api.ErrNoLeader, s.b.ID(), what)
	}
	c := s.callerNow(r)
	if c.Node == leader {
		return nil
	}
	if s.nodeKey(leader) == "" && s.opts.PeerName == nil {
		return nil
	}
	return fmt.Errorf("%w: %s accepts %s only from the leader %s; this request is from %s", api.ErrForbidden, s.b.ID(), what, leader, c.Name())
}

// callerNow is r's caller, with its node identity resolved again when the
// guard found none but the request is signed: the signer's key may have
// reached this replica since the guard looked (an agent replaying its log
// after a restart applies member.key while requests arrive), and a check
// that then finds the key on record must also see the signature it
// verifies.
func (s *Server) callerNow(r *http.Request) Caller {
	c := callerOf(r)
	if c.Node != "" || r.Header.Get(nodeauth.Header) == "" {
		return c
	}
	if node, err := s.nodeIdentity(r, bodyOf(r)); err == nil {
		c.Node = node
	}
	return c
}

// requireNode refuses a request about member id (its join, its reports,
// its completion notice) that does not come from that member, when the
// member has a key on record (or certificates are checked).
func (s *Server) requireNode(r *http.Request, id, what string) error {
	c := s.callerNow(r)
	if c.Node == id || s.nodeKey(id) == "" && s.opts.PeerName == nil {
		return nil
	}
	return fmt.Errorf("%w: %s of member %s is accepted only from %s itself; this request is from %s", api.ErrForbidden, what, id, id, c.Name())
}

package rpc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/acl"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/ui"
	"github.com/hashicorp/go-hclog"
)

// Backend is what the API needs from an agent.
type Backend interface {
	// ID is this agent's member id.
	ID() string
	// FSM is the local replicated state machine, for reads.
	FSM() *fsm.FSM
	// IsLeader reports whether this agent is the Raft leader.
	IsLeader() bool
	// Leader returns the leader's id and API address, or empty strings when
	// no leader is known or its address is not yet in the catalogue.
	Leader() (id, httpAddr string)
	// Barrier waits until every committed entry is applied locally; it fails
	// unless this agent is the leader.
	Barrier(ctx context.Context) error
	// Join admits a member (leader only).
	Join(ctx context.Context, m fsm.Member) (fsm.Member, error)
	// MoveMember moves a member that restarted at another Raft address
	// (leader only; protocol 3).
	MoveMember(ctx context.Context, mv fsm.MemberMove) error
	// RemoveMember removes a member (leader only); force removes an
	// unreachable member too and fails its unfinished step.
	RemoveMember(ctx context.Context, id string, force bool) (api.RemoveResponse, error)
	// TransferLeadership hands leadership to the voter to, or to any voter
	// when to is empty (leader only), and returns the new leader's id.
	TransferLeadership(ctx context.Context, to string) (string, error)
	// Health describes the agent and its Raft state.
	Health() api.Health
	// ReportStatus commits a member's build report (leader only; protocol
	// 2).
	ReportStatus(ctx context.Context, st fsm.MemberStatus) error
	// ReportVersionError commits a member's word on its version hook
	// (leader only; protocol 3).
	ReportVersionError(ctx context.Context, c fsm.MemberVersionError) error
	// SetNodeKey commits a member's node key (leader only; protocol 3).
	SetNodeKey(ctx context.Context, k fsm.MemberKey) error
	// RaftReport describes the Raft configuration and each server's state
	// as this agent sees them (protocol 3).
	RaftReport(ctx context.Context) api.RaftReport
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// Token, when set, is the shared bearer token: it holds every scope
	// (docs/security.md), and without an ACL it is what writes and the
	// internal routes need.
	Token string
	// ACL, when set, is the --acl-file policy: named tokens with scopes,
	// and what anonymous callers may do (scopes.go has each route's).
	ACL *acl.Policy
	// PeerName, when set, returns the name of the verified client
	// certificate of a request's connection ("" for none): a node's
	// certificate names its member id, so a name is taken as the node's
	// identity (identity.go, nodeIdentity). Nil without TLS.
	PeerName func(*http.Request) string
	// Audit receives one line per write (audit.go); nil uses Logger's
	// "audit" sub-logger.
	Audit hclog.Logger
	// Metrics serves /v1/metrics; nil answers 404.
	Metrics http.Handler
	// LeaderWait bounds how long a write waits for a leader to be known
	// before it fails with 503. Zero means 5 s.
	LeaderWait time.Duration
	// Logger receives request errors.
	Logger hclog.Logger
	// Upgrades serves the transaction routes; nil leaves them out.
	Upgrades Upgrades
	// Steps serves the node's step routes; nil leaves them out.
	Steps Steps
	// Events serves /v1/events; nil leaves it out.
	Events EventSource
	// Service serves the node's service-role routes (protocol 3; service.go);
	// nil leaves them out.
	Service Service
	// Ring serves the failover ring and the gateway registry (protocol 3;
	// ring.go); nil leaves them out.
	Ring Ring
	// Artifacts serves the artifacts held by the cluster (protocol 3;
	// artifacts.go); nil leaves them out.
	Artifacts Artifacts
	// Clients serves the client agents' routes (protocol 3; clients.go);
	// nil leaves them out.
	Clients Clients
	// Speaks is the newest protocol this build speaks; routes of newer
	// protocols are left out, as an older build would not have them.
	Speaks int
	// ClientTLS, when set, is how this agent calls other agents (the
	// leader it forwards writes to): over HTTPS, presenting its node
	// certificate (tls.go). Nil forwards over plain HTTP.
	ClientTLS *tls.Config
}

// EventSource is an agent's event log.
type EventSource interface {
	// Events returns the events after the cursor, waiting until there is
	// one or ctx ends.
	Events(ctx context.Context, after uint64) api.Events
}

// Server is the HTTP API of one agent.
type Server struct {
	b        Backend
	opts     ServerOptions
	mux      *routeMux
	forward  *http.Client
	log      hclog.Logger
	auditLog hclog.Logger
}

// maxBody bounds request bodies; the API's bodies are small. A body over it
// is refused with 413 (ErrTooLarge) before anything is decoded.
const maxBody = 1 << 20

// NewServer returns the API of the agent b.
func NewServer(b Backend, opts ServerOptions) *Server {
	if opts.LeaderWait == 0 {
		opts.LeaderWait = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Audit == nil {
		opts.Audit = opts.Logger.Named("audit")
	}
	s := &Server{b: b, opts: opts, log: opts.Logger, auditLog: opts.Audit,
		forward: forwardClient(opts.ClientTLS)}
	s.mux = &routeMux{ServeMux: http.NewServeMux(), s: s}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler. A body declared over maxBody is
// refused with 413 at once; one that grows past it while read fails its
// read with an *http.MaxBytesError, which decode and forwarding map to 413.
// The body is read whole before the route runs, under the server's read
// deadline (HTTPLimits.ReadTimeout), which net/http then lifts for the
// route's own waits.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isArtifactUpload(r) { // artifacts.go: streamed, under its own limit
		if s.opts.Artifacts != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.Artifacts.MaxArtifactSize()+1)
		}
		s.mux.ServeHTTP(w, r)
		return
	}
	if r.ContentLength > maxBody {
		writeError(w, fmt.Errorf("%w: the body is %d bytes, over the limit of %d bytes",
			api.ErrTooLarge, r.ContentLength, maxBody))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	readBody(r) // limits.go: the whole body, under the read deadline
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	s.mux.Handle("GET /v1/members", s.read(s.listMembers))
	s.mux.Handle("POST /v1/members", s.write(s.join))
	s.mux.Handle("DELETE /v1/members/{id}", s.write(s.leave))
	s.mux.Handle("GET /v1/leader", s.read(s.leader))
	s.mux.Handle("POST /v1/leader/transfer", s.write(s.transfer))
	s.mux.Handle("GET /v1/health", s.read(s.health))
	s.mux.Handle("GET /v1/protocol", s.read(s.protocol))
	if s.opts.Speaks >= fsm.CommandProtocol(fsm.CmdMemberStatus) {
		s.mux.Handle("POST /v1/members/{id}/status", s.write(s.memberStatus))
	}
	if s.opts.Speaks >= fsm.CommandProtocol(fsm.CmdMemberVersionError) {
		s.mux.Handle("POST /v1/members/{id}/version_error", s.write(s.memberVersionError))
	}
	if s.opts.Speaks >= fsm.CommandProtocol(fsm.CmdMemberKey) {
		s.mux.Handle("POST /v1/members/{id}/key", s.write(s.memberKey))
	}
	if s.opts.Speaks >= operatorProtocol {
		s.mux.Handle("GET /v1/operator/raft", s.read(s.operatorRaft))
	}
	s.mux.HandleFunc("GET /v1/metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Metrics == nil {
			writeError(w, fmt.Errorf("%w: metrics are not enabled", fsm.ErrNotFound))
			return
		}
		s.opts.Metrics.ServeHTTP(w, r)
	})
	s.upgradeRoutes()
	s.mux.Handle("GET /ui/", ui.Handler())
	s.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	s.serviceRoutes()  // service.go
	s.ringRoutes()     // ring.go
	s.artifactRoutes() // artifacts.go
	s.clientRoutes()   // clients.go
	if s.opts.Events != nil {
		s.mux.HandleFunc("GET /v1/events", s.events)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%w: no route %s %s", fsm.ErrNotFound, r.Method, r.URL.Path))
	})
}

// handler serves one route: it returns the body to send, or an error.
type handler func(r *http.Request) (any, error)

// read serves a read route from the local state, with long polling
// (?index=N&wait=D) and, with ?consistent=true, from the leader after a
// barrier.
func (s *Server) read(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("consistent") == "true" {
			s.forwardToLeader(w, r, func() { s.consistentRead(w, r, h) })
			return
		}
		s.localRead(w, r, h)
	})
}

func (s *Server) consistentRead(w http.ResponseWriter, r *http.Request, h handler) {
	if err := s.b.Barrier(r.Context()); err != nil {
		writeError(w, fmt.Errorf("%w: consistent read: %v", api.ErrNoLeader, err))
		return
	}
	s.localRead(w, r, h)
}

func (s *Server) localRead(w http.ResponseWriter, r *http.Request, h handler) {
	if err := s.longPoll(r); err != nil {
		writeError(w, err)
		return
	}
	s.serve(w, r, h)
}

func (s *Server) longPoll(r *http.Request) error {
	q := r.URL.Query()
	if q.Get("index") == "" {
		if q.Get("wait") != "" {
			return badRequest("wait=%s needs index=N", q.Get("wait"))
		}
		return nil
	}
	index, err := strconv.ParseUint(q.Get("index"), 10, 64)
	if err != nil {
		return badRequest("index=%q: want a non-negative integer", q.Get("index"))
	}
	wait := api.MaxWait
	if ws := q.Get("wait"); ws != "" {
		if wait, err = time.ParseDuration(ws); err != nil || wait < 0 {
			return badRequest("wait=%q: want a duration such as 30s", ws)
		}
		wait = min(wait, api.MaxWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	s.b.FSM().WaitIndex(ctx, index)
	return nil
}

// write serves a write route: forwarding to the leader unless this agent
// is the leader. The route's guard (scopes.go) has checked the caller.
func (s *Server) write(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.forwardToLeader(w, r, func() { s.serve(w, r, h) })
	})
}

// nodeRead serves a read addressed to this very agent (what its node
// knows, not the replicated state): never forwarded, whatever the query.
func (s *Server) nodeRead(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, h) })
}

// localWrite serves a write addressed to this very agent: no forwarding.
func (s *Server) localWrite(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, h) })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, h handler) {
	body, err := h(r)
	if err != nil {
		if StatusOf(err) == http.StatusInternalServerError {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		writeError(w, err)
		return
	}
	var index uint64
	s.b.FSM().View(func(st *fsm.State) { index = st.Index })
	w.Header().Set(api.IndexHeader, strconv.FormatUint(index, 10))
	writeJSON(w, http.StatusOK, body)
}

// decode reads a JSON body into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return bodyError(err)
		}
		if errors.Is(err, io.EOF) {
			return badRequest("empty body: want a JSON object")
		}
		return badRequest("malformed JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON body: trailing data after the object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// events serves GET /v1/events?after=SEQ&wait=D: this agent's events after
// the cursor, waiting up to D (default 30s) for the first one.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, badRequest("after=%q: want a non-negative integer", v))
			return
		}
	}
	wait := 30 * time.Second
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, badRequest("wait=%q: want a duration such as 30s", v))
			return
		}
		wait = min(d, api.MaxWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	writeJSON(w, http.StatusOK, s.opts.Events.Events(ctx, after))
}

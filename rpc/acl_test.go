package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/acl"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// Secrets of the test policy.
const (
	readSecret     = "read-secret-0123456789"
	operatorSecret = "operator-secret-0123456789"
	agentSecret    = "agent-secret-0123456789"
)

func testPolicy(t *testing.T, anonymous string) *acl.Policy {
	t.Helper()
	src := `{"anonymous": "` + anonymous + `", "tokens": [
		{"name": "viewer", "secret": "` + readSecret + `", "scope": "read"},
		{"name": "ops", "secret": "` + operatorSecret + `", "scope": "operator"},
		{"name": "agents", "secret": "` + agentSecret + `", "scope": "agent"}]}`
	p, err := acl.Parse("acl.json", []byte(src))
	require.NoError(t, err)
	return p
}

// apply commits a command at protocol 3 to b's state machine.
func (b *fakeBackend) apply(t *testing.T, typ fsm.CommandType, body any) {
	t.Helper()
	b.mu.Lock()
	b.index++
	idx := b.index
	b.mu.Unlock()
	data, err := fsm.Encode(typ, 3, time.Unix(0, 0), body)
	require.NoError(t, err)
	require.NoError(t, b.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(*fsm.Result).Err)
}

// cluster is the state of a three-member cluster at protocol 3 led by n1,
// each member with its node key on record, and transaction t-1 whose step
// on n2 runs its attempt 1 (to 2.0.0).
type cluster struct {
	keys map[string]nodeauth.Key
}

// backendOf returns the fake agent id of that cluster, with its own
// replica.
func (c *cluster) backendOf(t *testing.T, id string) *fakeBackend {
	t.Helper()
	b := c.membersOf(t, id)
	startTxn(t, b)
	return b
}

// membersOf returns the fake agent id with the members and their keys
// only.
func (c *cluster) membersOf(t *testing.T, id string) *fakeBackend {
	t.Helper()
	b := &fakeBackend{id: id, f: fsm.NewFor(3, 3), leader: "n1", addrs: map[string]string{}}
	for i, m := range []string{"n1", "n2", "n3"} {
		mem := member(m, 7000+10*i)
		mem.Protocol = fsm.ProtocolRange{Min: 1, Max: 3}
		b.apply(t, fsm.CmdMemberJoin, fsm.MemberJoin{Member: mem})
		b.apply(t, fsm.CmdMemberKey, fsm.MemberKey{ID: m, Key: c.keys[m].Public()})
	}
	return b
}

// startTxn commits t-1, whose step on n2 runs attempt 1.
func startTxn(t *testing.T, b *fakeBackend) {
	t.Helper()
	b.apply(t, fsm.CmdTxnStart, fsm.TxnStart{Txn: fsm.Txn{ID: "t-1", TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 1,
		OnFailure: fsm.OnFailureHalt, StepTimeout: fsm.Duration(time.Minute), ProgressDeadline: fsm.Duration(time.Hour),
		LeaderAtStart: "n1", Steps: []fsm.Step{{Node: "n2"}, {Node: "n3", Batch: 1}}}})
	b.apply(t, fsm.CmdStepBegin, fsm.StepBegin{TxnID: "t-1", Node: "n2", Attempt: 1})
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{keys: map[string]nodeauth.Key{}}
	for _, id := range []string{"n1", "n2", "n3"} {
		k, _, err := nodeauth.LoadOrCreate(filepath.Join(t.TempDir(), id+".key"))
		require.NoError(t, err)
		c.keys[id] = k
	}
	return c
}

// signer signs as member id with key k.
func signer(id string, k nodeauth.Key) api.RequestHook {
	return func(r *http.Request, body []byte) {
		r.Header.Set(nodeauth.Header, k.Sign(id, time.Now(), r.Method, r.URL.RequestURI(), body))
	}
}

// call sends one raw request and returns its status.
func call(t *testing.T, base, method, path, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// Every route the server registers, with every option set and the newest
// protocol, has its scope in routeScopes, and the table names no route
// the server does not have. A route added without a scope fails here (and
// needs scopeAll until it is classified).
func TestEveryRouteHasAScope(t *testing.T) {
	b := &fakeBackend{id: "n1", f: fsm.New(3), leader: "n1", addrs: map[string]string{}}
	s := NewServer(b, ServerOptions{Upgrades: &fakeUpgrades{b: b}, Steps: &fakeSteps{}, Service: &fakeService{},
		Events: fakeEvents{}, Metrics: http.NotFoundHandler(), Ring: &fakeRing{}, Artifacts: &fakeArtifacts{dir: t.TempDir(), limit: 1},
		Clients: &fakeClients{t: t, b: b},
		Speaks:  fsm.LatestProtocol})
	registered := map[string]bool{}
	for _, p := range s.mux.patterns {
		registered[p] = true
		_, ok := routeScopes[p]
		require.True(t, ok, "route %q has no scope in routeScopes (rpc/scopes.go): classify it", p)
	}
	for p := range routeScopes {
		require.True(t, registered[p], "routeScopes names %q, which the server does not register", p)
	}
}

func TestAnUnclassifiedRouteNeedsTheSharedToken(t *testing.T) {
	b := &fakeBackend{id: "n1", f: fsm.New(3), leader: "n1", addrs: map[string]string{}}
	s := NewServer(b, ServerOptions{Token: "shared-token-0123456789", ACL: testPolicy(t, "read")})
	s.mux.HandleFunc("GET /v1/unclassified", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, "ok") })
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, secret := range []string{readSecret, operatorSecret, agentSecret} {
		require.Equal(t, http.StatusForbidden, call(t, srv.URL, "GET", "/v1/unclassified", secret, ""))
	}
	require.Equal(t, http.StatusUnauthorized, call(t, srv.URL, "GET", "/v1/unclassified", "", ""))
	require.Equal(t, http.StatusOK, call(t, srv.URL, "GET", "/v1/unclassified", "shared-token-0123456789", ""))
}

type fakeEvents struct{}

func (fakeEvents) Events(context.Context, uint64) api.Events { return api.Events{} }

// scopedServer is n1, the leader of newCluster, with an ACL, the shared
// token "shared-token-0123456789", and every route.
func scopedServer(t *testing.T, anonymous string, audit hclog.Logger) (*httptest.Server, *fakeSteps) {
	t.Helper()
	b := newCluster(t).backendOf(t, "n1")
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "shared-token-0123456789", ACL: testPolicy(t, anonymous),
		Upgrades: &fakeUpgrades{b: b}, Steps: steps, Service: &fakeService{}, Events: fakeEvents{}, Speaks: 3, Audit: audit}))
	t.Cleanup(srv.Close)
	return srv, steps
}

func TestScopes(t *testing.T) {
	join := `{"id": "n4", "raft_addr": "127.0.0.1:7100", "http_addr": "127.0.0.1:7101", "version": "1.0.0", "protocol": {"min": 1, "max": 3}}`
	cases := []struct {
		name, anonymous, token, method, path, body string
		want                                       int
	}{
		{"anonymous none: reads closed", "none", "", "GET", "/v1/members", "", 401},
		{"anonymous none: health too", "none", "", "GET", "/v1/health", "", 401},
		{"anonymous none: the page's files stay open", "none", "", "GET", "/ui/", "", 200},
		{"anonymous read: reads", "read", "", "GET", "/v1/members", "", 200},
		{"anonymous read: no writes", "read", "", "POST", "/v1/upgrades/t-1/pause", "", 401},
		{"anonymous read: no internal routes", "read", "", "GET", "/v1/internal/diagnostic?health=false", "", 401},
		{"wrong token: even a read", "read", "not-a-token-0123456789", "GET", "/v1/members", "", 403},
		{"read token: reads", "none", readSecret, "GET", "/v1/upgrades/t-1", "", 200},
		{"read token: plan is a read", "none", readSecret, "POST", "/v1/upgrades/plan", `{"target_version": "2.0.0"}`, 200},
		{"read token: cannot start", "none", readSecret, "POST", "/v1/upgrades", `{"target_version": "2.0.0"}`, 403},
		{"read token: cannot pause", "none", readSecret, "POST", "/v1/upgrades/t-1/pause", "", 403},
		{"read token: cannot join", "none", readSecret, "POST", "/v1/members", join, 403},
		{"operator: pause", "none", operatorSecret, "POST", "/v1/upgrades/t-1/pause", "", 200},
		{"operator: remove a member", "none", operatorSecret, "DELETE", "/v1/members/n3", "", 200},
		{"operator: reads", "none", operatorSecret, "GET", "/v1/members", "", 200},
		{"operator: no internal step route", "none", operatorSecret, "POST", "/v1/internal/steps", `{}`, 403},
		{"operator: no diagnostic", "none", operatorSecret, "GET", "/v1/internal/diagnostic", "", 403},
		{"operator: no join", "none", operatorSecret, "POST", "/v1/members", join, 403},
		{"agent: join", "none", agentSecret, "POST", "/v1/members", join, 200},
		{"agent: diagnostic", "none", agentSecret, "GET", "/v1/internal/diagnostic", "", 200},
		{"agent: reads", "none", agentSecret, "GET", "/v1/members", "", 200},
		{"agent: cannot pause", "none", agentSecret, "POST", "/v1/upgrades/t-1/pause", "", 403},
		{"agent: cannot remove", "none", agentSecret, "DELETE", "/v1/members/n3", "", 403},
		{"shared token: every scope", "none", "shared-token-0123456789", "POST", "/v1/upgrades/t-1/pause", "", 200},
		{"shared token: internal routes", "none", "shared-token-0123456789", "GET", "/v1/internal/diagnostic", "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, steps := scopedServer(t, tc.anonymous, nil)
			require.Equal(t, tc.want, call(t, srv.URL, tc.method, tc.path, tc.token, tc.body))
			if tc.want >= 400 {
				require.Zero(t, steps.healthChecks+steps.runs, "a refused call ran nothing")
			}
		})
	}
}

// auditLines returns a JSON logger and the lines it wrote.
func auditLog() (hclog.Logger, func() []map[string]any) {
	var mu sync.Mutex
	var buf bytes.Buffer
	l := hclog.New(&hclog.LoggerOptions{Name: "baton.audit", JSONFormat: true, Output: lockedWriter{&mu, &buf}})
	return l, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				out = append(out, m)
			}
		}
		return out
	}
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// Every write is audited, refused or not, with the caller's name, the
// method, the route, its target and the status; reads are not.
func TestAuditLines(t *testing.T) {
	log, lines := auditLog()
	srv, _ := scopedServer(t, "read", log)
	require.Equal(t, 200, call(t, srv.URL, "POST", "/v1/upgrades/t-1/pause", operatorSecret, ""))
	require.Equal(t, 403, call(t, srv.URL, "POST", "/v1/upgrades/t-1/abort", readSecret, ""))
	require.Equal(t, 401, call(t, srv.URL, "DELETE", "/v1/members/n3", "", ""))
	require.Equal(t, 200, call(t, srv.URL, "GET", "/v1/upgrades/t-1", "", ""))

	got := lines()
	require.Len(t, got, 3, "three writes, no read: %v", got)
	want := []map[string]any{
		{"@module": "baton.audit", "caller": "ops", "method": "POST", "route": "POST /v1/upgrades/{id}/{action}", "id": "t-1", "action": "pause", "status": float64(200)},
		{"caller": "viewer", "method": "POST", "id": "t-1", "action": "abort", "status": float64(403)},
		{"caller": "anonymous", "method": "DELETE", "route": "DELETE /v1/members/{id}", "id": "n3", "status": float64(401)},
	}
	for i, w := range want {
		for k, v := range w {
			require.Equal(t, v, got[i][k], "line %d, %s: %v", i, k, got[i])
		}
	}
	require.Contains(t, got[1]["refused"], "operator scope")
	for _, l := range got {
		for _, s := range []string{operatorSecret, readSecret} {
			line, err := json.Marshal(l)
			require.NoError(t, err)
			require.NotContains(t, string(line), s, "a secret in the audit log")
		}
	}
}

// A write forwarded by a follower is audited on both: the follower names
// the caller it served, the leader the caller whose credentials it checked
// itself (they travel with the request), and which agent forwarded it.
func TestForwardedWriteIsAuditedWithTheOriginalCaller(t *testing.T) {
	c := newCluster(t)
	leader, follower := c.backendOf(t, "n1"), c.backendOf(t, "n2")
	llog, llines := auditLog()
	flog, flines := auditLog()
	policy := testPolicy(t, "none")
	lsrv := httptest.NewServer(NewServer(leader, ServerOptions{ACL: policy, Upgrades: &fakeUpgrades{b: leader}, Audit: llog, Speaks: 3}))
	defer lsrv.Close()
	fsrv := httptest.NewServer(NewServer(follower, ServerOptions{ACL: policy, Upgrades: &fakeUpgrades{b: follower}, Audit: flog, Speaks: 3}))
	defer fsrv.Close()
	follower.addrs["n1"] = strings.TrimPrefix(lsrv.URL, "http://")

	require.Equal(t, 200, call(t, fsrv.URL, "POST", "/v1/upgrades/t-1/pause", operatorSecret, ""))
	require.Equal(t, 403, call(t, fsrv.URL, "POST", "/v1/upgrades/t-1/resume", readSecret, ""), "refused where it landed")

	l, f := llines(), flines()
	require.Len(t, l, 1, "the refused write never reached the leader")
	require.Equal(t, "ops", l[0]["caller"])
	require.Equal(t, "n2", l[0]["forwarded_by"])
	require.Equal(t, float64(200), l[0]["status"])
	require.Len(t, f, 2)
	require.Equal(t, "ops", f[0]["caller"])
	require.Equal(t, float64(200), f[0]["status"])
	require.Equal(t, "viewer", f[1]["caller"])
	require.Equal(t, float64(403), f[1]["status"])

	// A header naming someone else changes nothing: the leader names the
	// holder of the credentials.
	req, err := http.NewRequest("POST", lsrv.URL+"/v1/upgrades/t-1/pause", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+operatorSecret)
	req.Header.Set(api.ForwardedHeader, "n3")
	req.Header.Set(nodeauth.Header, "id=n3, t=1, sig=AAAA")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "a malformed node signature is refused")
	require.Equal(t, "ops", llines()[1]["caller"])
}

// docs/security.md prints the route table; it must say what the code does.
func TestSecurityDocListsEveryRouteAndItsScope(t *testing.T) {
	raw, err := os.ReadFile("../docs/security.md")
	require.NoError(t, err)
	doc := string(raw)
	begin, end := strings.Index(doc, "<!-- routes: begin -->"), strings.Index(doc, "<!-- routes: end -->")
	require.True(t, begin >= 0 && end > begin, "the route table's markers")
	documented := map[string]routeRule{}
	for _, line := range strings.Split(doc[begin:end], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.Contains(cells[1], "`") {
			continue
		}
		route := strings.Trim(strings.TrimSpace(cells[1]), "`")
		documented[route] = routeRule{Scope: acl.Scope(strings.TrimSpace(cells[2])), Write: strings.TrimSpace(cells[3]) == "yes"}
	}
	require.Equal(t, routeScopes, documented, "docs/security.md's route table and rpc/scopes.go differ")
}

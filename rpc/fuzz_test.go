package rpc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/stretchr/testify/require"
)

// The fuzz targets of the API's request decoders: whatever body a client
// sends to the start, join and notice routes, the handler answers with a
// JSON body and a status below 500 (a 4xx for what it refuses), and never
// panics. Each request goes through the whole handler (decode, checks, the
// backend), on a fresh server.

// fuzzServer is a leader holding three members, with the transaction
// routes (whose Start refuses, and whose Notice accepts, anything).
func fuzzServer(t *testing.T) http.Handler {
	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	for i, id := range []string{"n1", "n2", "n3"} {
		_, err := b.Join(t.Context(), member(id, 7000+10*i))
		require.NoError(t, err)
	}
	return NewServer(b, ServerOptions{Upgrades: &fakeUpgrades{b: b}, Speaks: fsm.LatestProtocol})
}

// fuzzRoute posts body to path and checks the answer.
func fuzzRoute(t *testing.T, path string, body []byte) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	fuzzServer(t).ServeHTTP(rec, req)
	require.Less(t, rec.Code, 500, "a client's body must never cause a server error: %s", rec.Body)
	require.True(t, json.Valid(rec.Body.Bytes()), "the answer is JSON: %q", rec.Body)
}

func FuzzStartRequest(f *testing.F) {
	f.Add([]byte(`{"target_version":"2.0.0"}`))
	f.Add([]byte(`{"target_version":"2.0.0","strategy":"canary","max_parallel":2,"on_failure":"rollback","step_timeout":"5m"}`))
	f.Add([]byte(`{"target_version":"2.0.0","step_timeout":"99999h","artifact_url":"file:///etc/shadow"}`))
	f.Add([]byte(`{"target_version":"2.0.0"} trailing`))
	f.Add([]byte(`{"unknown":1}`))
	f.Fuzz(func(t *testing.T, body []byte) { fuzzRoute(t, "/v1/upgrades", body) })
}

func FuzzJoinRequest(f *testing.F) {
	f.Add([]byte(`{"id":"n4","raft_addr":"127.0.0.1:7040","http_addr":"127.0.0.1:7041","version":"1.0.0","protocol":{"min":1,"max":3}}`))
	f.Add([]byte(`{"id":"n1","raft_addr":"127.0.0.1:7999","http_addr":"127.0.0.1:7998","version":"1.0.0","protocol":{"min":1,"max":1},"prior_raft_addr":"127.0.0.1:7000"}`))
	f.Add([]byte(`{"id":"../../evil","raft_addr":"x","http_addr":"y","labels":{"":"v"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) { fuzzRoute(t, "/v1/members", body) })
}

func FuzzNotice(f *testing.F) {
	f.Add([]byte(`{"txn_id":"t-1","node":"n1","attempt":1,"state":"done","version":"2.0.0"}`))
	f.Add([]byte(`{"txn_id":"../../evil","node":"n1","attempt":18446744073709551615,"state":"failed","error":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) { fuzzRoute(t, "/v1/internal/notices", body) })
}

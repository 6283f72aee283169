package embed

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// fakeAgent serves /v1/health and /v1/events from values the test sets.
type fakeAgent struct {
	mu      sync.Mutex
	health  api.Health
	seq     uint64
	changed chan struct{}
}

func (a *fakeAgent) set(fn func(h *api.Health)) {
	a.mu.Lock()
	fn(&a.health)
	a.seq++
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

func (a *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/health":
		a.mu.Lock()
		h := a.health
		a.mu.Unlock()
		_ = json.NewEncoder(w).Encode(h)
	case "/v1/events":
		after := r.URL.Query().Get("after")
		wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
		a.mu.Lock()
		seq, ch := a.seq, a.changed
		a.mu.Unlock()
		if after == "" || strings.TrimSpace(after) == jsonUint(seq) {
			select {
			case <-ch:
			case <-time.After(wait):
			case <-r.Context().Done():
			}
		}
		a.mu.Lock()
		_ = json.NewEncoder(w).Encode(api.Events{Events: []api.Event{}, Next: a.seq})
		a.mu.Unlock()
	default:
		http.NotFound(w, r)
	}
}

func jsonUint(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func TestFollowerReportsEachChangeOnce(t *testing.T) {
	agent := &fakeAgent{health: api.Health{ID: "n2", Leader: "n1", ProtocolVersion: 1}, changed: make(chan struct{})}
	srv := httptest.NewServer(agent)
	defer srv.Close()

	var mu sync.Mutex
	var seen []Change
	f, err := Follow(context.Background(), Options{Addr: srv.URL, Wait: time.Second, OnChange: func(c Change) {
		mu.Lock()
		seen = append(seen, c)
		mu.Unlock()
	}})
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, 1, f.Protocol())
	require.False(t, f.IsLeader())
	require.Equal(t, "n2", f.Node())

	agent.set(func(h *api.Health) { h.Leader = "n2" })
	next(t, f, Promoted)
	agent.set(func(h *api.Health) { h.ProtocolVersion = 2 })
	c := next(t, f, ProtocolChanged)
	require.Equal(t, 1, c.OldProtocol)
	require.Equal(t, 2, c.NewProtocol)
	// A restarted agent replaying its log shows an older protocol for a
	// moment: that is not a change.
	agent.set(func(h *api.Health) { h.ProtocolVersion = 1; h.Leader = "n1" })
	next(t, f, Demoted)
	agent.set(func(h *api.Health) { h.ProtocolVersion = 2 })
	agent.set(func(h *api.Health) { h.Leader = "n2" })
	next(t, f, Promoted)

	mu.Lock()
	defer mu.Unlock()
	kinds := []Kind{}
	for _, c := range seen {
		kinds = append(kinds, c.Kind)
	}
	require.Equal(t, []Kind{Promoted, ProtocolChanged, Demoted, Promoted}, kinds)
	require.Equal(t, 2, f.Protocol())
}

func next(t *testing.T, f *Follower, want Kind) Change {
	t.Helper()
	select {
	case c := <-f.Changes():
		require.Equal(t, want, c.Kind)
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s change", want)
		return Change{}
	}
}

func TestFollowFailsWhenTheAgentIsDown(t *testing.T) {
	_, err := Follow(context.Background(), Options{Addr: "127.0.0.1:1"})
	require.Error(t, err)
	_, err = Follow(context.Background(), Options{})
	require.ErrorContains(t, err, "address is required")
}

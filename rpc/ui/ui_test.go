package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

func TestServesTheEmbeddedPage(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, want := range map[string]string{"/ui/": "<title>Baton</title>", "/ui/app.js": "followState", "/ui/style.css": ".tile"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'", path)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Contains(t, string(body), want, path)
	}
}

// fakeCluster serves the page and the read routes it uses for a cluster of
// n members, whose upgrade has every fifth step failed and the rest done,
// and a member named <img src=x onerror=...> to prove nothing read is
// rendered as markup.
func fakeCluster(n int) http.Handler {
	members := make([]api.Member, n)
	steps := make([]api.Step, n)
	for i := range members {
		id := fmt.Sprintf("n%05d", i)
		if i == 7 {
			id = `<img src=x onerror="document.title='owned'">`
		}
		members[i] = api.Member{ID: id, Version: "2.0.0", Voter: i < 5, Leader: i == 0, Status: api.MemberAlive,
			Protocol: api.ProtocolRange{Min: 2, Max: 3}, Labels: map[string]string{"zone": fmt.Sprint("z", i%4)}}
		state := api.StepDone
		if i%5 == 0 {
			state = api.StepFailed
		}
		steps[i] = api.Step{Node: id, Batch: i / 100, State: state, Attempt: 1}
	}
	txn := api.Txn{ID: "t-1", State: api.TxnFailed, TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 100, Steps: steps,
		CreatedAt: time.Now().Add(-time.Minute)}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", Handler())
	reply := func(v any) http.HandlerFunc {
		b, _ := json.Marshal(v)
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("index") == "1" {
				time.Sleep(2 * time.Second) // a long poll with nothing new
			}
			w.Header().Set("X-Baton-Index", "1")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		}
	}
	mux.Handle("GET /v1/members", reply(members))
	mux.Handle("GET /v1/upgrades/latest", reply(txn))
	mux.Handle("GET /v1/upgrades", reply([]api.Txn{txn}))
	mux.Handle("GET /v1/events", reply(api.Events{Next: 1}))
	return mux
}

// TestTenThousandMembersRenderAndFilter: a fleet's page draws every member,
// and the filters narrow the grid.
func TestTenThousandMembersRenderAndFilter(t *testing.T) {
	browser := procs.LookTool(t, "chromium", "chromium")
	srv := httptest.NewServer(fakeCluster(10000))
	defer srv.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	start := time.Now()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#grid .tile[data-id="n09999"]`))))
	t.Logf("10,000 tiles drawn %s after navigation", time.Since(start).Round(time.Millisecond))

	count := func(expr string) int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		require.NoError(t, err)
		return n
	}
	visible := `[...document.querySelectorAll("#grid .tile")].filter((t) => !t.hidden).length`
	require.Equal(t, 10000, count(`document.querySelectorAll("#grid .tile").length`))
	require.Equal(t, 10000, count(visible))
	require.Equal(t, 1, count(`document.querySelectorAll("#grid.dense").length`), "a fleet is drawn as small squares")

	setFilter := func(id, value string) {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
			`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event("input")); return true; })()`, id, value)))
		require.NoError(t, err)
	}
	setFilter("filter-state", "failed")
	require.Equal(t, 2000, count(visible))
	setFilter("filter-text", "zone=z1")
	require.Equal(t, 500, count(visible), "failed (i%5 == 0) in zone z1 (i%4 == 1): i%20 == 5")

	// What came from the network is text: the hostile id is shown, not run.
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
	require.NoError(t, err)
	require.Equal(t, "Baton", title)
	require.Equal(t, 0, count(`document.querySelectorAll("#grid img").length`))
}

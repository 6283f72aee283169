package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// pageView is what a person sees on the page at one moment.
type pageView struct {
	TxnState string `json:"txn"`
	Tiles    []struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Leader bool   `json:"leader"`
	} `json:"tiles"`
}

const readPage = `JSON.stringify({
  txn: document.getElementById("txn-state").textContent,
  tiles: [...document.querySelectorAll("#grid .tile")].map((t) => ({
    id: t.dataset.id, state: t.dataset.state, leader: t.dataset.leader === "true"}))
})`

// TestPageShowsALiveUpgrade opens an agent's page in a real headless
// Chromium, runs an upgrade, and checks what a person would see: each
// node's tile goes from running to done in the order of the plan, the
// leader's mark moves to another node before the old leader upgrades, and
// the page ends on done. BATON_UI_SCREENSHOT=FILE keeps a screenshot of the
// end (docs/ui.png is one).
func TestPageShowsALiveUpgrade(t *testing.T) {
	browser := procs.LookTool(t, "chromium", "chromium")
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "1"))
	waitStatus(t, c.Agent("n1"), api.MemberAlive)
	leader := currentLeader(t, c)
	var viewer string // a follower that stays up: the page never goes away
	for _, a := range c.Agents {
		if a.ID != leader.ID {
			viewer = a.HTTPAddr
			break
		}
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	defer cancelTimeout()

	var view pageView
	read := func() pageView {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](readPage))
		require.NoError(t, err)
		var v pageView
		require.NoError(t, json.Unmarshal([]byte(raw), &v))
		return v
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("http://"+viewer+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#grid .tile[data-id="n3"]`))))
	view = read()
	require.Len(t, view.Tiles, 3)

	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})

	// Watch as a person would, a few times a second, until the page says
	// done.
	seen := map[string][]string{} // node -> the states its tile showed, in order
	var doneOrder, leaders []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		view = read()
		for _, tile := range view.Tiles {
			if s := seen[tile.ID]; len(s) == 0 || s[len(s)-1] != tile.State {
				seen[tile.ID] = append(s, tile.State)
				if tile.State == "done" {
					doneOrder = append(doneOrder, tile.ID)
				}
			}
			if tile.Leader && (len(leaders) == 0 || leaders[len(leaders)-1] != tile.ID) {
				leaders = append(leaders, tile.ID)
			}
		}
		if view.TxnState == "done" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the page never showed the upgrade done: %+v, states seen %v", view, seen)
		time.Sleep(150 * time.Millisecond)
	}

	txn := c.WaitTxn(id, time.Minute, api.TxnDone)
	require.Equal(t, stepNodes(txn), doneOrder, "tiles turned done in the plan's order")
	for node, states := range seen {
		r, d := slices.Index(states, "running"), slices.Index(states, "done")
		require.True(t, r >= 0 && d > r, "%s's tile showed %v: running, then done", node, states)
		require.Equal(t, "done", states[len(states)-1], node)
	}
	require.GreaterOrEqual(t, len(leaders), 2, "the leader's mark moved: %v", leaders)
	require.Equal(t, leader.ID, leaders[0])
	require.Equal(t, leader.ID, doneOrder[len(doneOrder)-1], "secondaries first: the first leader upgraded last")

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	out := os.Getenv("BATON_UI_SCREENSHOT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "ui.png")
	}
	require.NoError(t, os.WriteFile(out, shot, 0o644))
	t.Logf("screenshot of the page: %s", out)
}

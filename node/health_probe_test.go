package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// 300 parallel diagnostics run the health hook once, all get its result,
// and a call within the TTL reuses it; after the TTL the hook runs again.
func TestParallelHealthChecksRunTheHookOnce(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := &healthProbe{ttl: time.Second, now: clock}
	var runs atomic.Int64
	release := make(chan struct{})
	run := func(context.Context) string { runs.Add(1); <-release; return "unhealthy: exit 1" }

	var wg sync.WaitGroup
	results := make(chan string, 300)
	for range 300 {
		wg.Go(func() { results <- p.check(context.Background(), run) })
	}
	require.Eventually(t, func() bool { return runs.Load() == 1 }, 10*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // let the others queue behind the run
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		require.Equal(t, "unhealthy: exit 1", r)
	}
	require.EqualValues(t, 1, runs.Load())

	require.Equal(t, "unhealthy: exit 1", p.check(context.Background(), run), "within the TTL the result is reused")
	require.EqualValues(t, 1, runs.Load())
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	require.Equal(t, "unhealthy: exit 1", p.check(context.Background(), run))
	require.EqualValues(t, 2, runs.Load(), "after the TTL the hook runs again")
}

// A caller that gives up stops waiting at once, and does not cut short the
// run the others share.
func TestHealthCheckCallerGivesUpAlone(t *testing.T) {
	p := &healthProbe{ttl: time.Second, now: time.Now}
	release := make(chan struct{})
	var runCtxErr atomic.Value
	go p.check(context.Background(), func(ctx context.Context) string {
		<-release
		runCtxErr.Store(ctx.Err() == nil)
		return ""
	})
	require.Eventually(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.running != nil }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Contains(t, p.check(ctx, func(context.Context) string { t.Error("a second run"); return "" }), "context canceled")
	close(release)
	require.Eventually(t, func() bool { return runCtxErr.Load() == true }, 10*time.Second, time.Millisecond)
	require.Equal(t, "", p.check(context.Background(), func(context.Context) string { t.Error("a run within the TTL"); return "x" }))
}

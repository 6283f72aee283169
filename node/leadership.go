package node

import (
	"context"

	metrics "github.com/armon/go-metrics"
	"sync"
	"time"
)

// monitorLeadership reads every leadership change from Raft's NotifyCh
// (always drained, so Raft never blocks on it) and starts or stops the
// leader duties.
func (a *Agent) monitorLeadership() {
	defer a.wg.Done()
	var (
		stop func()
		wg   sync.WaitGroup
	)
	revoke := func() {
		if stop != nil {
			stop()
			wg.Wait()
			stop = nil
		}
	}
	defer revoke()
	for {
		select {
		case <-a.ctx.Done():
			return
		case leader := <-a.leaderNotify:
			switch {
			case leader && stop == nil:
				a.log.Info("leadership gained", "id", a.cfg.ID, "at", time.Now().UTC().Format(time.RFC3339Nano))
				a.recordLeadership(true)
				metrics.IncrCounter([]string{"agent", "leadership", "gained"}, 1)
				ctx, cancel := context.WithCancel(a.ctx)
				stop = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.leaderLoop(ctx)
				}()
			case !leader && stop != nil:
				a.log.Info("leadership lost", "id", a.cfg.ID, "at", time.Now().UTC().Format(time.RFC3339Nano))
				a.recordLeadership(false)
				revoke()
			}
		}
	}
}

// leaderLoop establishes leadership (a barrier, so the state machine holds
// every entry the previous leader committed) and runs the leader duties
// until ctx ends.
func (a *Agent) leaderLoop(ctx context.Context) {
	// At the loss of leadership, the client polls held here answer at
	// once, so the clients find the new leader (clients_pull.go).
	defer a.pull.Reset()
	for {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.Barrier(bctx)
		cancel()
		if err == nil {
			break
		}
		a.log.Warn("barrier after gaining leadership failed", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	a.pull.Reset() // clients_pull.go: a new tenure of the pull protocol
	a.dutiesMu.Lock()
	duties := append([]func(context.Context){}, a.leaderDuties...)
	a.dutiesMu.Unlock()
	var wg sync.WaitGroup
	for _, duty := range duties {
		wg.Add(1)
		go func() {
			defer wg.Done()
			duty(ctx)
		}()
	}
	wg.Wait()
}

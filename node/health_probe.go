package node

import (
	"context"
	"sync"
	"time"
)

// HealthProbeTTL is how long the diagnostic reuses a health hook's result.
// Within it, any number of diagnostic calls run the hook at most once: the
// hook is the node's own and may be costly, and the diagnostic route must
// not let a caller run it at will.
const HealthProbeTTL = time.Second

// healthProbe runs the health hook for the diagnostic: one run at a time,
// shared by every caller that asks while it runs, and its result reused for
// ttl after it ends.
type healthProbe struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	has     bool
	at      time.Time
	result  string        // the hook's error, "" when it passed
	running chan struct{} // closed when the run under way ends
}

// check returns the hook's error ("" when it passed): a result younger than
// ttl, else the run under way, else a new run of run. run gets a context of
// its own, so a caller that gives up does not cut the run short for the
// others; a caller's ctx only bounds its own wait.
func (p *healthProbe) check(ctx context.Context, run func(context.Context) string) string {
	p.mu.Lock()
	for {
		if p.has && p.now().Sub(p.at) < p.ttl {
			r := p.result
			p.mu.Unlock()
			return r
		}
		if p.running == nil {
			break
		}
		ch := p.running
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "health check not finished: " + ctx.Err().Error()
		}
		p.mu.Lock()
	}
	ch := make(chan struct{})
	p.running = ch
	p.mu.Unlock()

	r := run(context.WithoutCancel(ctx))

	p.mu.Lock()
	p.has, p.at, p.result, p.running = true, p.now(), r, nil
	p.mu.Unlock()
	close(ch)
	return r
}

// forget drops the reused result, so the next check runs the hook (after a
// reload of the hooks). A run under way still ends as it was.
func (p *healthProbe) forget() {
	p.mu.Lock()
	p.has = false
	p.mu.Unlock()
}

package harness

import (
	"context"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
)

// tailEvents follows node id's event stream into the recorder, from the
// start of each incarnation of the agent (a restarted agent numbers its
// events afresh and replays its log; the checkers keep the first copy of
// each command).
func (c *Cluster) tailEvents(ctx context.Context, id string) {
	defer c.wg.Done()
	var cursor uint64
	seen := -1
	for ctx.Err() == nil {
		c.mu.Lock()
		n := c.nodes[id]
		inc, busy := n.incarnation, n.down || n.paused
		c.mu.Unlock()
		if busy {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		if inc != seen {
			seen, cursor = inc, 0
		}
		rctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		page, err := c.Client(id).Events(rctx, cursor, 3*time.Second)
		cancel()
		if err != nil {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		if page.Next < cursor {
			cursor = 0 // the agent restarted behind our back
			continue
		}
		now := time.Now()
		for _, e := range page.Events {
			if c.opts.Recorder != nil {
				c.opts.Recorder.AddEvent(history.Event{Event: e, Received: now})
			}
		}
		cursor = page.Next
	}
}

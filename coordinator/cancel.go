package coordinator

import (
	"context"
	"errors"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// stepCancelProtocol is the protocol that brought the node's route to stop
// an attempt (POST /v1/internal/steps/{txn}/{attempt}/cancel): a node of an
// older build does not have it, so it is asked only once the cluster
// speaks this protocol.
const stepCancelProtocol = 3

// cancelPatience is how long an attempt's node is asked again to stop it
// while it does not answer. After that the coordinator gives up: the
// attempt ends when its hooks do, and its late notice still reaches the
// catalogue.
const cancelPatience = time.Minute

// cancelRequest is the coordinator's request that a node stop an attempt:
// one whose step failed at its deadline, or an upgrade still running when
// its transaction was aborted. It is best-effort and kept for the tenure
// only: what the transaction says is already committed, and stopping the
// attempt only frees its node sooner.
type cancelRequest struct {
	reason string
	// next is when the node is asked (again); delay is the wait after
	// the next failed call.
	next  time.Time
	delay time.Duration
	// until is when the coordinator stops asking.
	until time.Time
	// done: the node answered (it stops the attempt, has finished it, or
	// cannot stop it), or the coordinator gave up.
	done bool
}

// askCancel queues a request that key's node stop the attempt, once per
// tenure.
func (tn *tenure) askCancel(key attemptKey, now time.Time, reason string) {
	if tn.cancels[key] != nil {
		return
	}
	tn.cancels[key] = &cancelRequest{reason: reason, next: now, delay: firstRetry, until: now.Add(cancelPatience)}
}

// sendCancels asks the nodes of the due requests to stop their attempts,
// all at once, and returns the time until a request is next due (idle when
// none is).
func (co *Coordinator) sendCancels(ctx context.Context, tn *tenure, now time.Time) time.Duration {
	var due []attemptKey
	for key, r := range tn.cancels {
		if !r.done && !now.Before(r.next) {
			due = append(due, key)
		}
	}
	answered := make([]bool, len(due))
	co.fanOut(len(due), func(i int) { answered[i] = co.sendCancel(ctx, due[i], tn.cancels[due[i]].reason) })
	wait := idle
	for i, key := range due {
		r := tn.cancels[key]
		switch {
		case answered[i]:
			r.done = true
		case !now.Before(r.until):
			r.done = true
			co.log.Warn("gave up asking the node to stop the attempt", "txn", key.txn, "node", key.node, "attempt", key.attempt)
			co.opts.Metrics.IncrCounter([]string{"coordinator", "steps", "cancel_failed"}, 1)
		default:
			r.next = now.Add(r.delay)
			r.delay = min(2*r.delay, co.opts.ReconcileInterval)
		}
	}
	for _, r := range tn.cancels {
		if !r.done {
			wait = min(wait, max(r.next.Sub(now), 0))
		}
	}
	return wait
}

// sendCancel asks one node to stop an attempt, and reports whether it
// answered. An answer that refuses (the node never heard of the attempt, or
// its build has no such route) ends the request as surely as one that
// accepts: asking again would get the same answer.
func (co *Coordinator) sendCancel(ctx context.Context, key attemptKey, reason string) bool {
	var (
		addr     string
		protocol int
	)
	co.c.FSM().View(func(s *fsm.State) {
		addr, protocol = nodeAddr(s.Members[key.node]), s.ProtocolVersion
	})
	if addr == "" || protocol < stepCancelProtocol {
		co.log.Debug("node not asked to stop the attempt", "txn", key.txn, "node", key.node, "attempt", key.attempt,
			"member", addr != "", "protocol", protocol)
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
	defer cancel()
	st, err := co.n.CancelStep(cctx, addr, key.txn, key.attempt, reason)
	var apiErr *api.APIError
	switch {
	case err == nil:
		co.log.Info("asked the node to stop the attempt", "txn", key.txn, "node", key.node, "attempt", key.attempt,
			"reason", reason, "state", st.State)
		co.opts.Metrics.IncrCounter([]string{"coordinator", "steps", "cancel_requested"}, 1)
		return true
	case errors.As(err, &apiErr) && apiErr.Status < 500:
		co.log.Warn("the node cannot stop the attempt", "txn", key.txn, "node", key.node, "attempt", key.attempt,
			"reason", reason, "error", err)
		co.opts.Metrics.IncrCounter([]string{"coordinator", "steps", "cancel_failed"}, 1)
		return true
	}
	co.log.Debug("asking the node to stop the attempt failed; retrying", "txn", key.txn, "node", key.node,
		"attempt", key.attempt, "error", err)
	return false
}

package node

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// noticeQueue holds completion notices not yet acknowledged by the leader.
type noticeQueue struct {
	mu      sync.Mutex
	pending map[string]api.Notice
	wake    chan struct{}
}

func newNoticeQueue() *noticeQueue {
	return &noticeQueue{pending: map[string]api.Notice{}, wake: make(chan struct{}, 1)}
}

func noticeKey(n api.Notice) string { return n.TxnID + "/" + strconv.FormatUint(n.Attempt, 10) }

func (q *noticeQueue) add(n api.Notice) {
	q.mu.Lock()
	q.pending[noticeKey(n)] = n
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// len is the number of notices not yet acknowledged.
func (q *noticeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

func (q *noticeQueue) snapshot() []api.Notice {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]api.Notice, 0, len(q.pending))
	for _, n := range q.pending {
		out = append(out, n)
	}
	return out
}

func (q *noticeQueue) remove(n api.Notice) {
	q.mu.Lock()
	delete(q.pending, noticeKey(n))
	q.mu.Unlock()
}

// sendNotices keeps sending every pending completion notice straight to
// the leader's API (or, when this agent knows no leader, or the leader
// could not be reached, through its own API, which waits for one and
// forwards it) until the leader acknowledges it: committed, or refused for
// good (a 4xx: a stale attempt is never accepted later; but not a 401 or
// 403, which judge the credentials, not the notice). The leader answers
// only once the notice is committed. Either way the request is this node's
// own, signed with its key, so the leader accepts it only as coming from
// the node it is about. Acknowledged notices are marked in the journal so a
// restart does not send them again; unacknowledged ones survive a restart
// in the journal and are sent again (I5).
func (a *Agent) sendNotices() {
	defer a.wg.Done()
	own := a.client(a.cfg.HTTPAddr)
	var (
		leaderAddr string
		leader     *api.Client
	)
	backoff := 50 * time.Millisecond
	for {
		failed := false
		for _, n := range a.notices.snapshot() {
			client := own
			if addr, direct := noticeTarget(a.ID(), a.Leader); direct {
				if addr != leaderAddr {
					leaderAddr, leader = addr, a.client(addr)
				}
				client = leader
			}
			err := a.sendNotice(client, n)
			if err != nil && client != own && !errors.Is(err, api.ErrUnauthorized) && !errors.Is(err, api.ErrForbidden) && !isAPIRefusal(err) {
				// The leader moved or cannot be reached: this agent's own
				// API waits for the next one.
				a.log.Debug("completion notice not delivered to the leader; sending it through this agent", "txn", n.TxnID, "attempt", n.Attempt, "leader", leaderAddr, "error", err)
				err = a.sendNotice(own, n)
			}
			if err != nil && (errors.Is(err, api.ErrUnauthorized) || errors.Is(err, api.ErrForbidden)) {
				// Not a verdict on the notice but on its credentials (a
				// token or a node signature the leader does not accept, a
				// clock far off): kept and sent again, since a refusal
				// would drop a finished step's word.
				a.log.Warn("completion notice refused for its credentials; it will be sent again", "txn", n.TxnID, "attempt", n.Attempt, "error", err)
				failed = true
				continue
			}
			if err != nil && !isAPIRefusal(err) {
				a.log.Debug("completion notice not yet delivered", "txn", n.TxnID, "attempt", n.Attempt, "error", err)
				failed = true
				continue
			}
			if err != nil {
				a.log.Warn("completion notice refused", "txn", n.TxnID, "attempt", n.Attempt, "error", err)
			} else {
				a.log.Info("completion notice acknowledged", "txn", n.TxnID, "attempt", n.Attempt, "state", n.State)
			}
			if err := a.exec.MarkAcked(n.TxnID, n.Attempt); err != nil {
				a.log.Warn("journal: mark notice acknowledged", "error", err)
			}
			a.notices.remove(n)
		}
		wait := time.Hour
		if failed {
			wait, backoff = backoff, min(2*backoff, 2*time.Second)
		} else {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-a.ctx.Done():
			return
		case <-a.notices.wake:
		case <-time.After(wait):
		}
	}
}

// noticeTarget returns the leader's API address and true when a notice from
// node self should go straight to it: a leader is known and it is another
// agent. Otherwise the notice goes to the node's own API.
func noticeTarget(self string, leader func() (id, httpAddr string)) (string, bool) {
	id, addr := leader()
	if id == "" || id == self || addr == "" {
		return "", false
	}
	return addr, true
}

// sendNotice sends n once through client.
func (a *Agent) sendNotice(client *api.Client, n api.Notice) error {
	ctx, cancel := context.WithTimeout(a.ctx, 15*time.Second)
	defer cancel()
	return client.Notice(ctx, n)
}

// isAPIRefusal reports whether err is an answer of 4xx: a verdict on the
// request itself, which sending it elsewhere or again would not change.
func isAPIRefusal(err error) bool {
	var apiErr *api.APIError
	return errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500
}

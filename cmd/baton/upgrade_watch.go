package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

const (
	// pollWait is how long one long poll of a watch asks the agent to hold
	// the read when nothing changes.
	pollWait = 30 * time.Second
	// liveWait replaces pollWait while steps run: each read then also asks
	// their nodes which hook they run (a live read), so the watch names
	// the running hook within this long of its start.
	liveWait = 2 * time.Second
	// pollGrace bounds one long poll beyond pollWait, so that an agent that
	// accepted the connection and then hung is noticed and retried.
	pollGrace = 15 * time.Second
	// retryMin and retryMax bound the backoff between reads that failed
	// for a transient reason: an agent restarting, an election.
	retryMin = 200 * time.Millisecond
	retryMax = 2 * time.Second
)

// watcher follows one transaction, reporting every change, until it ends:
// done, aborted, or failed (halted for an operator).
type watcher struct {
	client  *api.Client
	id      string // "latest" or "active" until the first read names it
	timeout time.Duration
	stdout  io.Writer
	stderr  io.Writer
	json    bool
	bar     *progressView // nil unless a human watches on a terminal

	last     *api.Txn
	lastJSON []byte
}

func newWatcher(c *cli.Context, id string) *watcher {
	w := &watcher{
		client: clientOf(c),
		id:     id,
		stdout: c.App.Writer,
		stderr: c.App.ErrWriter,
		json:   c.Bool("json"),
	}
	// A watch lasts as long as the upgrade: only an explicit --timeout
	// bounds it, and --timeout 0 means no limit.
	if c.IsSet("timeout") {
		w.timeout = c.Duration("timeout")
	}
	if !w.json && isTerminal(w.stderr) {
		w.bar = &progressView{out: w.stderr}
		w.bar.tick(time.Second)
	}
	return w
}

// run long-polls the transaction until it ends. It returns nil when the
// transaction is done, and an error of exit status 1 naming the end state
// otherwise. Transient failures are retried until --timeout, if given.
func (w *watcher) run(c *cli.Context) error {
	ctx, cancel := watchContext(c.Context, w.timeout)
	defer cancel()
	defer w.bar.close()
	if w.last != nil && ended(*w.last) {
		return w.finish(*w.last)
	}
	var (
		index   uint64
		backoff = retryMin
		outage  bool
	)
	for {
		txn, next, err := w.read(ctx, index)
		if err != nil {
			if ctx.Err() != nil {
				return w.giveUp(ctx, err)
			}
			if !transient(err) {
				return err
			}
			if !outage {
				w.note("watching %s: %v; retrying", w.id, err)
				outage = true
			}
			if err := sleep(ctx, backoff); err != nil {
				return w.giveUp(ctx, err)
			}
			backoff = min(2*backoff, retryMax)
			continue
		}
		if outage {
			w.note("watching %s: the agent answers again", w.id)
			outage = false
		}
		backoff = retryMin
		w.id = txn.ID // follow this transaction, whatever "latest" later means
		if err := w.show(txn); err != nil {
			return err
		}
		if ended(txn) {
			return w.finish(txn)
		}
		if next == 0 {
			// An answer without an index cannot be long-polled from;
			// pause rather than spin.
			if err := sleep(ctx, retryMin); err != nil {
				return w.giveUp(ctx, err)
			}
		}
		index = next
	}
}

// watchContext bounds a watch by timeout; 0 means no limit.
func watchContext(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(parent, timeout)
	}
	return context.WithCancel(parent)
}

// read fetches the transaction once it moved past index (at once when index
// is 0), bounding the long poll so a hung agent is retried. While the last
// state seen had running steps, the read is live (it names their hooks) and
// returns after liveWait at the latest.
func (w *watcher) read(ctx context.Context, index uint64) (api.Txn, uint64, error) {
	live := w.last != nil && w.last.Count(api.StepRunning) > 0
	wait := api.Wait{}
	if index > 0 {
		wait = api.Wait{Index: index, Wait: pollWait}
		if live {
			wait.Wait = liveWait
		}
	}
	ctx, cancel := context.WithTimeout(ctx, wait.Wait+pollGrace)
	defer cancel()
	if live {
		return w.client.UpgradeLive(ctx, w.id, wait)
	}
	return w.client.Upgrade(ctx, w.id, wait)
}

// show reports what changed since the last state shown: with --json the
// whole transaction as one line, else one line per step or transaction
// state change, and the progress bar.
func (w *watcher) show(txn api.Txn) error {
	prev := w.last
	w.last = &txn
	if w.json {
		b, err := json.Marshal(txn)
		if err != nil {
			return fmt.Errorf("encode transaction: %w", err)
		}
		if bytes.Equal(b, w.lastJSON) {
			return nil
		}
		w.lastJSON = b
		_, err = fmt.Fprintf(w.stdout, "%s\n", b)
		return err
	}
	// A node that did not answer this live read keeps the hook it last
	// named, for a log that does not repeat itself.
	txn = carryHooks(prev, txn)
	w.last = &txn
	lines := changeLines(prev, txn)
	if len(lines) > 0 {
		w.bar.clear()
		for _, line := range lines {
			if _, err := fmt.Fprintln(w.stdout, line); err != nil {
				return err
			}
		}
	}
	w.bar.update(txn)
	return nil
}

// carryHooks returns cur with the hook of each running step that names
// none taken from prev, when prev saw the same attempt run one.
func carryHooks(prev *api.Txn, cur api.Txn) api.Txn {
	if prev == nil {
		return cur
	}
	steps := append([]api.Step(nil), cur.Steps...)
	for i, s := range steps {
		if before := prev.Step(s.Node); s.State == api.StepRunning && s.Hook == "" && before != nil &&
			before.State == api.StepRunning && before.Attempt == s.Attempt {
			steps[i].Hook = before.Hook
		}
	}
	cur.Steps = steps
	return cur
}

// changeLines describes the changes from prev (nil for the first state
// seen) to cur, steps first, as lines of a log: a step's new state, the
// hook its node now runs, what it waits for, the transaction's new state,
// and, when the state stays, a new reason: what it waits for now.
func changeLines(prev *api.Txn, cur api.Txn) []string {
	var lines []string
	if prev == nil {
		lines = append(lines, fmt.Sprintf("watching transaction %s: %s to %s, %d step(s) in %d batch(es)",
			cur.ID, cur.Strategy, cur.TargetVersion, len(cur.Steps), cur.Batches()))
	}
	for _, s := range cur.Steps {
		var before *api.Step
		if prev != nil {
			before = prev.Step(s.Node)
		}
		switch {
		case before == nil && s.State == api.StepPending:
		case before == nil, before.State != s.State, before.Attempt != s.Attempt, before.Rollback != s.Rollback:
			lines = append(lines, stepLine(s))
		}
		if s.State == api.StepRunning && s.Hook != "" &&
			(before == nil || before.Hook != s.Hook || before.Attempt != s.Attempt || before.State != s.State) {
			lines = append(lines, fmt.Sprintf("%s runs %s", s.Node, s.Hook))
		}
		if s.Waiting != "" && (before == nil || before.Waiting != s.Waiting) {
			lines = append(lines, fmt.Sprintf("%s waits: %s", s.Node, s.Waiting))
		}
	}
	lines = append(lines, switchoverLines(prev, cur)...) // service_output.go
	switch {
	case prev == nil || prev.State != cur.State:
		lines = append(lines, txnLine(cur))
	case cur.Reason != "" && cur.Reason != prev.Reason:
		lines = append(lines, waitLine(cur))
	}
	return lines
}

// waitLine reports a new reason on a transaction whose state stays: what a
// running or finalizing one waits for (a successor to the leader, a member
// finalize needs), or what an aborting one has met.
func waitLine(t api.Txn) string {
	switch t.State {
	case api.TxnRunning, api.TxnFinalizing, api.TxnPaused:
		return fmt.Sprintf("transaction %s waits: %s", t.ID, oneLine(t.Reason))
	}
	return fmt.Sprintf("transaction %s is still %s: %s", t.ID, t.State, oneLine(t.Reason))
}

// ended reports whether a watch stops at t: done and aborted are final, and
// failed and rollback-failed wait for an operator's retry or abort.
func ended(t api.Txn) bool {
	return t.State.Terminal() || t.State == api.TxnFailed || t.State == api.TxnRollbackFailed
}

// finish prints the final status and turns the end state into the exit
// status: 0 for done, 1 otherwise.
func (w *watcher) finish(txn api.Txn) error {
	w.bar.close()
	if !w.json {
		fmt.Fprintln(w.stdout)
		if err := writeTxn(w.stdout, txn); err != nil {
			return err
		}
	}
	reason := ""
	if txn.Reason != "" {
		reason = ": " + oneLine(txn.Reason)
	}
	switch txn.State {
	case api.TxnDone:
		return nil
	case api.TxnFailed:
		return cli.Exit(fmt.Sprintf("transaction %s halted failed%s (baton upgrade retry or abort)", txn.ID, reason), 1)
	case api.TxnRollbackFailed:
		return cli.Exit(fmt.Sprintf("transaction %s halted: %s (baton upgrade retry to retry the rollback, retry --forward to upgrade again, or abort)",
			txn.ID, oneLine(txn.Reason)), 1)
	}
	return cli.Exit(fmt.Sprintf("transaction %s ended %s%s", txn.ID, txn.State, reason), 1)
}

// giveUp explains why a watch stopped before its transaction ended.
func (w *watcher) giveUp(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("watching %s: interrupted", w.id)
	}
	if w.last != nil {
		return fmt.Errorf("gave up watching %s after --timeout %s; it is still %s", w.id, w.timeout, w.last.State)
	}
	return fmt.Errorf("gave up watching %s after --timeout %s: %w", w.id, w.timeout, err)
}

// note writes a line about the watch itself on stderr, out of the way of
// the log (and of the JSON) on stdout.
func (w *watcher) note(format string, args ...any) {
	w.bar.clear()
	fmt.Fprintf(w.stderr, "baton: "+format+"\n", args...)
}

// transient reports whether a failed read is worth retrying: no answer at
// all (the agent restarting, a network blip) or a server-side 5xx (503
// during an election). Other answers, 404 say, will not change.
func transient(err error) bool {
	var apiErr *api.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isTerminal reports whether w is a terminal, where a progress bar redrawn
// in place makes sense; in a log file it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progressView draws the watch's progress bar: done steps out of all, with
// the state, the running steps and their hooks, and the time the
// transaction has run as its description. It is drawn again every tick, so
// the time advances while nothing else changes. A nil view draws nothing.
type progressView struct {
	out io.Writer
	// now is the clock of the elapsed time; time.Now when nil.
	now func() time.Time

	mu   sync.Mutex // guards the fields below: the ticker draws too
	bar  *progressbar.ProgressBar
	max  int
	last *api.Txn
	stop chan struct{}
}

// tick draws the bar again every interval until close.
func (v *progressView) tick(interval time.Duration) {
	v.stop = make(chan struct{})
	go func(stop <-chan struct{}) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v.mu.Lock()
				if v.bar != nil && v.last != nil {
					v.draw(*v.last)
				}
				v.mu.Unlock()
			}
		}
	}(v.stop)
}

// elapsed is how long t has run, 0 once it ended (or before it began, by
// a clock behind the leader's).
func (v *progressView) elapsed(t api.Txn) time.Duration {
	if t.State.Terminal() || t.CreatedAt.IsZero() {
		return 0
	}
	now := time.Now
	if v.now != nil {
		now = v.now
	}
	return max(now().Sub(t.CreatedAt), 0)
}

func (v *progressView) update(t api.Txn) {
	if v == nil || len(t.Steps) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = &t
	v.draw(t)
}

// draw draws t; v.mu must be held.
func (v *progressView) draw(t api.Txn) {
	done := t.Count(api.StepDone)
	// A finished bar no longer moves: start a new one when a rollback takes
	// done steps back.
	if v.bar == nil || v.max != len(t.Steps) || (v.bar.IsFinished() && done < v.max) {
		if v.bar != nil {
			_ = v.bar.Clear()
		}
		v.max = len(t.Steps)
		v.bar = progressbar.NewOptions(v.max,
			progressbar.OptionSetWriter(v.out),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
		)
	}
	v.bar.Describe(progressDescription(t, v.elapsed(t)))
	_ = v.bar.Set(done)
}

// clear erases the bar so that a line can be printed; the next update
// draws it again.
func (v *progressView) clear() {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil {
		_ = v.bar.Clear()
	}
}

// close erases the bar for good and stops its ticker; it may be called
// more than once.
func (v *progressView) close() {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stop != nil {
		close(v.stop)
		v.stop = nil
	}
	if v.bar == nil {
		return
	}
	_ = v.bar.Clear()
	_ = v.bar.Exit()
	v.bar, v.last = nil, nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

const (
	// pollWait is how long one long poll of a watch asks the agent to hold
	// the read when nothing changes.
	pollWait = 30 * time.Second
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
// is 0), bounding the long poll so a hung agent is retried.
func (w *watcher) read(ctx context.Context, index uint64) (api.Txn, uint64, error) {
	wait := api.Wait{}
	if index > 0 {
		wait = api.Wait{Index: index, Wait: pollWait}
	}
	ctx, cancel := context.WithTimeout(ctx, wait.Wait+pollGrace)
	defer cancel()
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

// changeLines describes the changes from prev (nil for the first state
// seen) to cur, steps first, as lines of a log.
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
		if s.Waiting != "" && (before == nil || before.Waiting != s.Waiting) {
			lines = append(lines, fmt.Sprintf("%s waits: %s", s.Node, s.Waiting))
		}
	}
	lines = append(lines, switchoverLines(prev, cur)...) // service_output.go
	if prev == nil || prev.State != cur.State {
		lines = append(lines, txnLine(cur))
	}
	return lines
}

// ended reports whether a watch stops at t: done and aborted are final, and
// failed waits for an operator's retry or abort.
func ended(t api.Txn) bool { return t.State.Terminal() || t.State == api.TxnFailed }

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
// the state and the running steps as its description. A nil view draws
// nothing.
type progressView struct {
	out io.Writer
	bar *progressbar.ProgressBar
	max int
}

func (v *progressView) update(t api.Txn) {
	if v == nil || len(t.Steps) == 0 {
		return
	}
	done := t.Count(api.StepDone)
	// A finished bar no longer moves: start a new one when a rollback takes
	// done steps back.
	if v.bar == nil || v.max != len(t.Steps) || (v.bar.IsFinished() && done < v.max) {
		v.clear()
		v.max = len(t.Steps)
		v.bar = progressbar.NewOptions(v.max,
			progressbar.OptionSetWriter(v.out),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(true),
		)
	}
	v.bar.Describe(progressDescription(t))
	_ = v.bar.Set(done)
}

// clear erases the bar so that a line can be printed; the next update
// draws it again.
func (v *progressView) clear() {
	if v == nil || v.bar == nil {
		return
	}
	_ = v.bar.Clear()
}

func (v *progressView) close() {
	if v == nil || v.bar == nil {
		return
	}
	v.clear()
	_ = v.bar.Exit()
	v.bar = nil
}

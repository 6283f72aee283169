package pull

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newHub() (*Hub, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(10*time.Second, c.now), c
}

var step = api.StepRequest{TxnID: "t-1", Node: "c1", Attempt: 1, TargetVersion: "2.0"}

func TestAnOfferedStepIsTakenByTheNextPollAndReportedFromThen(t *testing.T) {
	h, _ := newHub()
	ctx := context.Background()
	if _, err := h.Status("c1", "t-1", 1); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("status before any offer: %v, want not found (the coordinator then offers it)", err)
	}
	if _, err := h.Offer(step); err != nil {
		t.Fatal(err)
	}
	if st, err := h.Status("c1", "t-1", 1); err != nil || st.State != api.StepRunning {
		t.Fatalf("status of an offered step = %+v, %v; want running", st, err)
	}
	resp := h.Poll(ctx, "c1", api.PollRequest{})
	if len(resp.Steps) != 1 || !reflect.DeepEqual(resp.Steps[0], step) {
		t.Fatalf("poll = %+v; want the offered step", resp)
	}
	// Handed over once: the next poll (with no report) waits for nothing
	// and brings nothing, and the attempt is not found any more: the
	// client did not take it, so the coordinator offers it again.
	if resp := h.Poll(ctx, "c1", api.PollRequest{}); len(resp.Steps) != 0 {
		t.Fatalf("second poll = %+v; want nothing", resp)
	}
	if _, err := h.Status("c1", "t-1", 1); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("status of an offer not taken: %v, want not found", err)
	}
	// A report is what the leader knows from then on.
	done := api.StepStatus{TxnID: "t-1", Node: "c1", Attempt: 1, State: api.StepDone, Version: "2.0"}
	h.Poll(ctx, "c1", api.PollRequest{Steps: []api.StepStatus{done}})
	if st, err := h.Status("c1", "t-1", 1); err != nil || st != done {
		t.Fatalf("status = %+v, %v; want the report", st, err)
	}
	// An offer of an attempt the client reports is not sent again.
	if _, err := h.Offer(step); err != nil {
		t.Fatal(err)
	}
	if resp := h.Poll(ctx, "c1", api.PollRequest{Steps: []api.StepStatus{done}}); len(resp.Steps) != 0 {
		t.Fatalf("poll = %+v; an attempt the client reports is never offered again", resp)
	}
}

func TestAPollWaitsForAnOffer(t *testing.T) {
	h, _ := newHub()
	got := make(chan api.PollResponse, 1)
	go func() { got <- h.Poll(context.Background(), "c1", api.PollRequest{WaitMillis: 60_000}) }()
	// The poll is open: the client holds its lease whatever the clock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		open := h.clients["c1"] != nil && h.clients["c1"].polling > 0
		h.mu.Unlock()
		if open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("poll never opened")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := h.Offer(step); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-got:
		if len(resp.Steps) != 1 {
			t.Fatalf("poll = %+v", resp)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a waiting poll was not answered by an offer")
	}
}

func TestALeaseExpiresAfterTheLastPoll(t *testing.T) {
	h, clk := newHub()
	if alive, _ := h.Liveness("c1"); !alive {
		t.Fatal("a client never seen gets a full lease from the tenure's start")
	}
	h.Poll(context.Background(), "c1", api.PollRequest{})
	seen := clk.now()
	clk.add(10 * time.Second)
	if alive, _ := h.Liveness("c1"); !alive {
		t.Fatal("dead at the lease's end")
	}
	clk.add(time.Millisecond)
	alive, last := h.Liveness("c1")
	if alive || !last.Equal(seen) {
		t.Fatalf("liveness = %v, %v; want unreachable, last seen %v", alive, last, seen)
	}
	if _, err := h.Offer(step); err == nil {
		t.Fatal("an offer to a client without its lease succeeded")
	}
	if _, err := h.Status("c1", "t-1", 1); err == nil || errors.Is(err, api.ErrNotFound) {
		t.Fatalf("status of a client without its lease: %v; want unreachable, not 'not found' (which would offer again)", err)
	}
	if _, err := h.Diagnostic("c1"); err == nil {
		t.Fatal("diagnostic of a client without its lease succeeded")
	}
	h.Poll(context.Background(), "c1", api.PollRequest{})
	if alive, _ := h.Liveness("c1"); !alive {
		t.Fatal("a poll did not renew the lease")
	}
	// A new tenure gives every client a full lease again.
	clk.add(time.Minute)
	h.Reset()
	if alive, _ := h.Liveness("c1"); !alive {
		t.Fatal("no lease after a reset")
	}
}

func TestACancelGoesWithTheNextPollOnce(t *testing.T) {
	h, _ := newHub()
	ctx := context.Background()
	running := api.StepStatus{TxnID: "t-1", Node: "c1", Attempt: 1, State: api.StepRunning}
	h.Poll(ctx, "c1", api.PollRequest{Steps: []api.StepStatus{running}})
	st, err := h.Cancel("c1", "t-1", 1, "aborted")
	if err != nil || st.State != api.StepRunning {
		t.Fatalf("cancel = %+v, %v", st, err)
	}
	resp := h.Poll(ctx, "c1", api.PollRequest{Steps: []api.StepStatus{running}})
	if len(resp.Cancels) != 1 || resp.Cancels[0] != (api.CancelOrder{TxnID: "t-1", Attempt: 1, Reason: "aborted"}) {
		t.Fatalf("poll = %+v", resp)
	}
	if resp := h.Poll(ctx, "c1", api.PollRequest{Steps: []api.StepStatus{running}}); len(resp.Cancels) != 0 {
		t.Fatalf("a cancel was handed over twice: %+v", resp)
	}
	// A cancel of an offer not yet taken withdraws the offer.
	next := step
	next.Attempt = 2
	_, _ = h.Offer(next)
	_, _ = h.Cancel("c1", "t-1", 2, "aborted")
	if resp := h.Poll(ctx, "c1", api.PollRequest{}); len(resp.Steps) != 0 {
		t.Fatalf("a cancelled offer was handed over: %+v", resp)
	}
}

// A poll held open when the tenure ends (Reset, at a loss of leadership)
// answers at once, so its client polls again and finds the new leader.
func TestAResetAnswersTheHeldPolls(t *testing.T) {
	h, _ := newHub()
	got := make(chan api.PollResponse, 1)
	go func() { got <- h.Poll(context.Background(), "c1", api.PollRequest{WaitMillis: 60_000}) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		open := h.clients["c1"] != nil && h.clients["c1"].polling > 0
		h.mu.Unlock()
		if open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("poll never opened")
		}
		time.Sleep(time.Millisecond)
	}
	h.Reset()
	select {
	case resp := <-got:
		if len(resp.Steps)+len(resp.Cancels) != 0 {
			t.Fatalf("poll = %+v", resp)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a held poll outlived the tenure")
	}
}

package node

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
)

// eventLogSize bounds the events an agent keeps in memory.
const eventLogSize = 4096

// eventLog is this agent's bounded record of what it saw: every accepted
// command applied to its state machine (including entries replayed at
// start) and its own leadership changes. Readers wait for new events with a
// cursor, so an external checker needs no busy loop.
type eventLog struct {
	mu      sync.Mutex
	events  []api.Event // oldest first, at most eventLogSize
	next    uint64      // sequence number of the next event
	changed chan struct{}
}

func newEventLog() *eventLog { return &eventLog{next: 1, changed: make(chan struct{})} }

func (l *eventLog) add(e api.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = l.next
	l.next++
	l.events = append(l.events, e)
	// Trim only once twice the bound is held, so that adding stays cheap
	// (copying the whole log on every apply cost a third of the leader's
	// CPU at scale); readers see at most the newest eventLogSize.
	if len(l.events) >= 2*eventLogSize {
		l.events = append([]api.Event(nil), l.events[len(l.events)-eventLogSize:]...)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// since returns the events with a sequence number above after, waiting
// until there is one or ctx ends.
func (l *eventLog) since(ctx context.Context, after uint64) api.Events {
	for {
		l.mu.Lock()
		var out []api.Event
		for _, e := range l.events[max(0, len(l.events)-eventLogSize):] {
			if e.Seq > after {
				out = append(out, e)
			}
		}
		next, ch := l.next, l.changed
		l.mu.Unlock()
		if len(out) > 0 || ctx.Err() != nil {
			if out == nil {
				out = []api.Event{}
			}
			return api.Events{Events: out, Next: next - 1}
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// eventFields are the fields commands share that an event reports.
type eventFields struct {
	TxnID   string `json:"txn_id"`
	Node    string `json:"node"`
	ID      string `json:"id"`
	Attempt uint64 `json:"attempt"`
	Version string `json:"version"`
	Member  struct {
		ID string `json:"id"`
	} `json:"member"`
	Txn struct {
		ID string `json:"id"`
	} `json:"txn"`
	ProtocolVersion int    `json:"protocol_version"`
	Rollback        bool   `json:"rollback"`
	Error           string `json:"error"`
	Primary         string `json:"primary"`   // service.roles, switchover.*
	Phase           string `json:"phase"`     // switchover.phase
	Candidate       string `json:"candidate"` // switchover.begin
	Name            string `json:"name"`      // gateway.*
}

// recordApply turns an accepted command into an event. It runs inside the
// state machine's apply, so it must stay cheap and never block.
func (a *Agent) recordApply(index uint64, e fsm.Envelope, err error) {
	if err != nil {
		return
	}
	var f eventFields
	_ = json.Unmarshal(e.Data, &f)
	ev := api.Event{Index: index, Type: rpc.EventTypeOut(e.Type), Time: e.Time, Agent: a.cfg.ID, Txn: f.TxnID,
		Node: f.Node, Attempt: f.Attempt, Version: f.Version, Protocol: f.ProtocolVersion, Rollback: f.Rollback, Error: f.Error,
		Primary: f.Primary, Phase: f.Phase}
	if e.Type == fsm.CmdSwitchoverBegin {
		ev.Primary, ev.Phase = f.Candidate, string(fsm.SwitchChosen)
	}
	if e.Type == fsm.CmdGatewayRegister || e.Type == fsm.CmdGatewayLeave || e.Type == fsm.CmdGatewayExpire {
		ev.Gateway = f.Name
	}
	if e.Type == fsm.CmdSwitchoverFail {
		ev.Phase = string(fsm.SwitchFailed)
	}
	switch {
	case f.Txn.ID != "":
		ev.Txn = f.Txn.ID
	case f.Member.ID != "":
		ev.Node = f.Member.ID
	case e.Type == fsm.CmdMemberLeave || e.Type == fsm.CmdMemberReport || e.Type == fsm.CmdMemberStatus || e.Type == fsm.CmdMemberLiveness ||
		e.Type == fsm.CmdMemberVersionError || e.Type == fsm.CmdMemberForceLeave || e.Type == fsm.CmdMemberMove ||
		e.Type == fsm.CmdMemberService || e.Type == fsm.CmdMemberKey:
		ev.Node = f.ID
	}
	a.events.add(ev)
}

func (a *Agent) recordLeadership(gained bool) {
	t := api.EventLeadershipLost
	if gained {
		t = api.EventLeadershipGained
	}
	a.events.add(api.Event{Index: a.parts.raft.LastIndex(), Type: t, Time: time.Now().UTC(), Agent: a.cfg.ID, Node: a.cfg.ID})
}

// Events returns this agent's events after the cursor, waiting up to the
// context's deadline for one.
func (a *Agent) Events(ctx context.Context, after uint64) api.Events {
	return a.events.since(ctx, after)
}

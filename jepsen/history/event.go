package history

import (
	"sort"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// Event is one event of an agent's stream (/v1/events), with when the suite
// received it. For a committed command, Time is the leader's clock when it
// proposed the command, so the command committed between Time and Received.
type Event struct {
	api.Event
	Received time.Time `json:"received"`
}

// IsCommand reports whether the event is an applied command rather than a
// change of the agent's leadership.
func (e Event) IsCommand() bool {
	return e.Type.IsCommand()
}

// Commands merges the applied commands seen by every agent into the log
// they came from: one event per Raft index, in index order, received at the
// earliest time any agent's stream delivered it.
func Commands(events []Event) []Event {
	byIndex := map[uint64]Event{}
	for _, e := range events {
		if !e.IsCommand() {
			continue
		}
		if old, ok := byIndex[e.Index]; !ok || e.Received.Before(old.Received) {
			byIndex[e.Index] = e
		}
	}
	out := make([]Event, 0, len(byIndex))
	for _, e := range byIndex {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

package checker

import (
	"fmt"
	"net/http"
	"path"
	"sort"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// LateAnnouncement is a batch the leader sent although a registered
// gateway had not confirmed its drain announcement: the bounded wait ran
// out (the leader logs it), so the gateway may still route to those nodes.
type LateAnnouncement struct {
	Txn   string    `json:"txn"`
	Nodes []string  `json:"nodes"`
	At    time.Time `json:"at"`
}

// stepKey names one attempt of one node's step.
type stepKey struct {
	txn, node string
	attempt   uint64
}

// CheckGatewayDrain checks I11's first half: no request the clients sent
// through the gateway after a node's drain hook began reached that node's
// service before the node's step ended, for every attempt whose step.begin
// (the drain announcement) committed while the gateway was registered and
// was confirmed by it in time. A request is known by the id in its path:
// its client sent it after the drain began, so the gateway routed it after
// it had reported the announcement.
func CheckGatewayDrain(in Input) Result {
	if in.ServiceRequests == nil {
		return Result{Status: Pass, Note: "no gateway in this run"}
	}
	sent := map[string]procs.LoadRequest{}
	for _, r := range in.GatewayRequests {
		sent[r.ID] = r
	}
	registered := registrations(in.Commands, in.GatewayName, in.End)
	begins, ends := map[stepKey]history.Event{}, map[stepKey]time.Time{}
	for _, e := range in.Commands {
		k := stepKey{e.Txn, e.Node, e.Attempt}
		switch e.Type {
		case api.EventStepBegin:
			begins[k] = e
		case api.EventStepComplete, api.EventStepFail:
			if _, ok := ends[k]; !ok {
				ends[k] = e.Time
			}
		}
	}
	late := map[[2]string]bool{}
	for _, l := range in.Late {
		for _, n := range l.Nodes {
			late[[2]string{l.Txn, n}] = true
		}
	}
	checked, skipped := 0, 0
	var first *Violation
	for _, h := range in.Hooks {
		if h.Hook != "drain" || h.Kind != "begin" {
			continue
		}
		k := stepKey{h.Txn, h.Node, h.Attempt}
		begin, ok := begins[k]
		if !ok || late[[2]string{h.Txn, h.Node}] || !registered(begin.Time) {
			skipped++
			continue
		}
		end, ok := ends[k]
		if !ok {
			end = in.End
		}
		checked++
		for _, r := range in.ServiceRequests[h.Node] {
			req, ok := sent[path.Base(r.Path)]
			if !ok || !req.Start.After(h.At) || !req.Start.Before(end) {
				continue
			}
			v := &Violation{At: req.Start, Txn: h.Txn, Nodes: []string{h.Node},
				What: fmt.Sprintf("%s %s, sent through the gateway at %s, reached %s at %s: its drain (attempt %d, announced at raft index %d) began at %s and its step ended at %s",
					req.Method, req.ID, clock(req.Start), h.Node, clock(r.At), h.Attempt, begin.Index, clock(h.At), clock(end))}
			if first == nil || v.At.Before(first.At) {
				first = v
			}
		}
	}
	res := verdict(checked, first)
	res.Note = fmt.Sprintf("%d requests through the gateway; %d drains not checked (announced while the gateway was not registered, or confirmed late)", len(in.GatewayRequests), skipped)
	return res
}

// CheckBodyOnce checks I11's second half: no POST body sent through the
// gateway reached the services twice.
func CheckBodyOnce(in Input) Result {
	if in.ServiceRequests == nil {
		return Result{Status: Pass, Note: "no gateway in this run"}
	}
	type arrival struct {
		node string
		at   time.Time
	}
	seen := map[string]arrival{}
	checked := 0
	nodes := make([]string, 0, len(in.ServiceRequests))
	for n := range in.ServiceRequests {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		for _, r := range in.ServiceRequests[n] {
			if r.Method != http.MethodPost || r.Body == "" {
				continue
			}
			checked++
			if prev, dup := seen[r.Body]; dup {
				return verdict(checked, &Violation{At: r.At, Nodes: []string{prev.node, n},
					What: fmt.Sprintf("POST body %q reached %s at %s and %s at %s", r.Body, prev.node, clock(prev.at), n, clock(r.At))})
			}
			seen[r.Body] = arrival{n, r.At}
		}
	}
	return verdict(checked, nil)
}

// registrations returns whether gateway name was registered at a moment:
// from the proposal of its gateway.register until the proposal of its
// gateway.leave or gateway.expire. A registration counts only once it
// was delivered (Received), so that a step begun while it committed is not
// held to it.
func registrations(cmds []history.Event, name string, end time.Time) func(time.Time) bool {
	type span struct{ from, till time.Time }
	var spans []span
	var open *span
	for _, e := range cmds {
		if e.Gateway != name {
			continue
		}
		switch e.Type {
		case api.EventGatewayRegister:
			if open == nil {
				open = &span{from: e.Received}
			}
		case api.EventGatewayLeave, api.EventGatewayExpire:
			if open != nil {
				open.till = e.Time
				spans = append(spans, *open)
				open = nil
			}
		}
	}
	if open != nil {
		open.till = end
		spans = append(spans, *open)
	}
	return func(t time.Time) bool {
		for _, s := range spans {
			if t.After(s.from) && t.Before(s.till) {
				return true
			}
		}
		return false
	}
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000000") }

package checker

import (
	"fmt"
	"sort"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/rpc/api"
)

// CheckProtocol checks I6: the active protocol version never falls, and it
// rises to P only when every member's agent runs a build that speaks P (the
// build of its latest start before the raise committed).
func CheckProtocol(in Input) Result {
	launches := append([]history.Launch(nil), in.Launches...)
	sort.SliceStable(launches, func(i, j int) bool { return launches[i].At.Before(launches[j].At) })
	active := max(in.InitialProtocol, 1)
	checked := 0
	for _, e := range in.Commands {
		if e.Type != api.EventTxnFinalize {
			continue
		}
		checked++
		if e.Protocol < active {
			return verdict(checked, &Violation{At: e.Time, Txn: e.Txn,
				What: fmt.Sprintf("finalize lowered the protocol from %d to %d", active, e.Protocol)})
		}
		if e.Protocol > active {
			latest := map[string]history.Launch{}
			for _, l := range launches {
				if l.At.Before(e.Received) {
					latest[l.Node] = l
				}
			}
			var nodes []string
			for n := range latest {
				nodes = append(nodes, n)
			}
			sort.Strings(nodes)
			for _, n := range nodes {
				l := latest[n]
				if e.Protocol < l.ProtocolMin || e.Protocol > l.ProtocolMax {
					return verdict(checked, &Violation{At: e.Time, Txn: e.Txn, Nodes: []string{n},
						What: fmt.Sprintf("protocol rose from %d to %d while %s ran build %s speaking %d-%d",
							active, e.Protocol, n, l.Version, l.ProtocolMin, l.ProtocolMax)})
				}
			}
		}
		active = e.Protocol
	}
	res := verdict(checked, nil)
	res.Note = fmt.Sprintf("active protocol %d at the end", active)
	return res
}

package gateway

import "slices"

// Member is what the gateway needs of a cluster member: its id and the
// address its service listens on.
type Member struct {
	ID          string
	ServiceAddr string
}

// State is the part of the cluster's replicated state that routing depends
// on, as read at Index.
type State struct {
	// Index is the state index the reads that built this state were served
	// at (the lowest of them): every command up to it is reflected.
	Index uint64
	// Members are the cluster's members; those without a service address
	// are not routed to.
	Members []Member
	// Ring is the failover ring's order of member ids. Members missing
	// from it follow it in id order; ids that are not members are ignored.
	Ring []string
	// Out names the members out of rotation, with why (their step runs).
	Out map[string]string
}

// Node is one member the gateway can route to.
type Node struct {
	ID   string
	Addr string
	// InRotation says whether new requests may be sent to the node; when
	// not, Why says why.
	InRotation bool
	Why        string
}

// View is the routing table built from a State: the routable members in
// ring order. It is immutable once built, so requests read it without
// locks while the follower swaps in the next one.
type View struct {
	Index    uint64
	nodes    []Node
	rotation []Node
	pos      map[string]int
}

// NewView builds the routing table of s: every member with a service
// address, in ring order (members the ring does not name follow it, in id
// order), in rotation unless s.Out names it.
func NewView(s State) *View {
	addr := map[string]string{}
	for _, m := range s.Members {
		if m.ServiceAddr != "" {
			addr[m.ID] = m.ServiceAddr
		}
	}
	order := make([]string, 0, len(addr))
	seen := map[string]bool{}
	for _, id := range s.Ring {
		if _, ok := addr[id]; ok && !seen[id] {
			order = append(order, id)
			seen[id] = true
		}
	}
	var rest []string
	for id := range addr {
		if !seen[id] {
			rest = append(rest, id)
		}
	}
	slices.Sort(rest)
	order = append(order, rest...)

	v := &View{Index: s.Index, nodes: make([]Node, len(order)), pos: make(map[string]int, len(order))}
	for i, id := range order {
		why, out := s.Out[id]
		v.nodes[i] = Node{ID: id, Addr: addr[id], InRotation: !out, Why: why}
		v.pos[id] = i
		if !out {
			v.rotation = append(v.rotation, v.nodes[i])
		}
	}
	return v
}

// Nodes returns every routable node in ring order.
func (v *View) Nodes() []Node { return slices.Clone(v.nodes) }

// Rotation returns the nodes in rotation, in ring order.
func (v *View) Rotation() []Node { return slices.Clone(v.rotation) }

// Node returns the node id, if the view routes to it.
func (v *View) Node(id string) (Node, bool) {
	i, ok := v.pos[id]
	if !ok {
		return Node{}, false
	}
	return v.nodes[i], true
}

// Successor returns the node that takes over id's requests: the next node
// after id in ring order (wrapping around) that is in rotation and not
// excluded. When the view does not know id, it is the first such node in
// ring order. ok is false when there is none.
func (v *View) Successor(id string, excluded func(id string) bool) (Node, bool) {
	start, known := v.pos[id]
	if !known {
		start = -1
	}
	for k := 1; k <= len(v.nodes); k++ {
		n := v.nodes[(start+k+len(v.nodes))%len(v.nodes)]
		if n.InRotation && n.ID != id && !excluded(n.ID) {
			return n, true
		}
	}
	return Node{}, false
}

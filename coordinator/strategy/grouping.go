package strategy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Kinds of grouping (S4): by the IP network of a member's address, or by
// the value of one of its labels.
const (
	// GroupBySubnet groups members by the /N network of their advertised
	// address.
	GroupBySubnet = "subnet"
	// GroupByLabel groups members by the value of one label.
	GroupByLabel = "label"
)

// DefaultGroupBy is the grouping of a grouped request that names none.
const DefaultGroupBy = "subnet:24"

// GroupLeaderLabel names a member its group's leader when set to "true"
// (see FormGroups).
const GroupLeaderLabel = "baton.group-leader"

// NoLabelGroup is the name of the group of the members that lack the label
// a label grouping reads.
const NoLabelGroup = "(no label)"

// GroupBy is a parsed --group-by: Kind is GroupBySubnet with Bits the
// prefix length, or GroupByLabel with Label the key.
type GroupBy struct {
	Kind  string
	Bits  int
	Label string
}

// String gives the value back as --group-by takes it.
func (g GroupBy) String() string {
	if g.Kind == GroupByLabel {
		return GroupByLabel + ":" + g.Label
	}
	return GroupBySubnet + ":" + strconv.Itoa(g.Bits)
}

// ParseGroupBy parses --group-by: "subnet:N" with N from 0 to 128 (an
// IPv4 address takes N up to 32; see FormGroups), or "label:KEY" with a
// key that is not empty. An empty value is DefaultGroupBy. Errors name the
// bad value and say what is wanted.
func ParseGroupBy(s string) (GroupBy, error) {
	if s == "" {
		s = DefaultGroupBy
	}
	kind, arg, ok := strings.Cut(s, ":")
	switch {
	case ok && kind == GroupBySubnet:
		bits, err := parseDigits(arg)
		if err != nil || bits > 128 {
			return GroupBy{}, fmt.Errorf("group-by %q: the prefix length must be a whole number from 0 to 128 (32 for IPv4), as in subnet:24", s)
		}
		return GroupBy{Kind: GroupBySubnet, Bits: bits}, nil
	case ok && kind == GroupByLabel:
		if arg == "" || strings.TrimSpace(arg) != arg {
			return GroupBy{}, fmt.Errorf("group-by %q: want a label key after label:, as in label:rack", s)
		}
		return GroupBy{Kind: GroupByLabel, Label: arg}, nil
	}
	return GroupBy{}, fmt.Errorf("group-by %q: want subnet:N (the /N network of each member's address) or label:KEY", s)
}

// Group is one group of a grouped transaction: its name (the network, as
// 10.1.2.0/24, or the label's value), its leader and its members, the
// leader included, in the order they upgrade: the others in natural ID
// order, then the leader.
type Group struct {
	Name    string
	Leader  string
	Members []string
}

// FormGroups splits nodes into groups by g and chooses each group's
// leader. Groups are ordered by network (IPv4 before IPv6, then by address
// and length) or by label value in natural order, with NoLabelGroup last.
//
// The leader of a group is its member labelled GroupLeaderLabel=true (the
// lowest in natural ID order when several are), else its lowest member in
// natural ID order. The choice is a pure function of the catalogue so that
// `upgrade plan` shows the leader `upgrade start` records.
//
// With subnet grouping every node's Addr must be an IP address (IPv4,
// IPv6, an IPv4-mapped IPv6 address counts as IPv4; a zone is ignored),
// and an IPv4 address takes at most 32 bits; the error names the member.
// With label grouping a member without the label joins NoLabelGroup.
func FormGroups(nodes []Node, g GroupBy) ([]Group, error) {
	type keyed struct {
		name   string
		prefix netip.Prefix
		nodes  []Node
	}
	byName := map[string]*keyed{}
	var groups []*keyed
	for _, n := range nodes {
		name, prefix, err := groupOf(n, g)
		if err != nil {
			return nil, err
		}
		k, ok := byName[name]
		if !ok {
			k = &keyed{name: name, prefix: prefix}
			byName[name] = k
			groups = append(groups, k)
		}
		k.nodes = append(k.nodes, n)
	}
	slices.SortFunc(groups, func(a, b *keyed) int {
		if g.Kind == GroupBySubnet {
			return cmp.Or(a.prefix.Addr().Compare(b.prefix.Addr()), cmp.Compare(a.prefix.Bits(), b.prefix.Bits()))
		}
		return cmp.Or(cmp.Compare(boolRank(a.name == NoLabelGroup), boolRank(b.name == NoLabelGroup)), CompareID(a.name, b.name))
	})
	out := make([]Group, len(groups))
	for i, k := range groups {
		leader := groupLeader(k.nodes)
		out[i] = Group{Name: k.name, Leader: leader, Members: append(withoutID(sortedIDs(k.nodes), leader), leader)}
	}
	return out, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// groupOf names n's group under g; for a subnet it also returns the
// network, by which groups are ordered.
func groupOf(n Node, g GroupBy) (string, netip.Prefix, error) {
	if g.Kind == GroupByLabel {
		if v, ok := n.Labels[g.Label]; ok {
			return v, netip.Prefix{}, nil
		}
		return NoLabelGroup, netip.Prefix{}, nil
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(n.Addr, "["), "]"))
	if err != nil {
		return "", netip.Prefix{}, fmt.Errorf("member %s: its address %q is not an IP address, so it has no subnet: group by label:KEY instead", n.ID, n.Addr)
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() && g.Bits > 32 {
		return "", netip.Prefix{}, fmt.Errorf("member %s: its address %s is IPv4, which has 32 bits, fewer than subnet:%d", n.ID, addr, g.Bits)
	}
	prefix, err := addr.Prefix(g.Bits)
	if err != nil {
		return "", netip.Prefix{}, fmt.Errorf("member %s: subnet:%d of %s: %v", n.ID, g.Bits, addr, err)
	}
	return prefix.String(), prefix, nil
}

// groupLeader is the leader of a group of nodes: see FormGroups.
func groupLeader(nodes []Node) string {
	var named []Node
	for _, n := range nodes {
		if n.Labels[GroupLeaderLabel] == "true" {
			named = append(named, n)
		}
	}
	if len(named) == 0 {
		named = nodes
	}
	return sortedIDs(named)[0]
}

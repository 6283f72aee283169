package fsm

import (
	"fmt"
	"time"
)

// The groups of a grouped transaction (S4, docs/fleets.md). Everything here
// is protocol 3: a transaction's Groups are kept only once the cluster
// speaks protocol 3 (like MaxLag, service.go), and group.acting is listed
// in commandProtocol.

// CmdGroupActing records which member acts for a group while its leader
// upgrades or is unreachable, or that the leader acts again (protocol 3).
const CmdGroupActing CommandType = "group.acting"

// MaxGroupName bounds a group's name (a network such as 10.1.2.0/24, or a
// label's value, which MaxLabelValueLen bounds).
const MaxGroupName = MaxLabelValueLen + 8

// Group is one group of a grouped transaction: its name, its leader, its
// members (the leader included) and which member acts for it.
type Group struct {
	Name    string   `json:"name"`
	Leader  string   `json:"leader"`
	Members []string `json:"members"`
	// Acting is the member that acts for the group in its leader's place
	// (relays its steps and notices) while the leader upgrades or is
	// unreachable; "" while the leader itself acts. ActingReason says why,
	// and ActingSince when it was recorded (the leader's clock).
	Acting       string    `json:"acting,omitempty"`
	ActingReason string    `json:"acting_reason,omitempty"`
	ActingSince  time.Time `json:"acting_since,omitzero"`
}

// GroupActing is the body of group.acting: Member acts for Group of
// transaction TxnID, for Reason; an empty Member gives the role back to
// the group's leader. Member travels as "node", so the command's event
// names the member that acts.
type GroupActing struct {
	TxnID  string `json:"txn_id"`
	Group  string `json:"group"`
	Member string `json:"node,omitempty"` // an event's Node
	Reason string `json:"reason,omitempty"`
}

// Group returns the group named name of t, or nil.
func (t *Txn) Group(name string) *Group {
	for i := range t.Groups {
		if t.Groups[i].Name == name {
			return &t.Groups[i]
		}
	}
	return nil
}

// GroupOf returns the group that holds node, or nil.
func (t *Txn) GroupOf(node string) *Group {
	for i := range t.Groups {
		for _, m := range t.Groups[i].Members {
			if m == node {
				return &t.Groups[i]
			}
		}
	}
	return nil
}

// startGroups sets a new transaction's groups: kept only once the cluster
// speaks protocol 3, so that every build reads the same transaction from
// the same entry, and with nobody acting yet.
func (s *State) startGroups(t *Txn) {
	if s.ProtocolVersion < CommandProtocol(CmdGroupActing) || len(t.Groups) == 0 {
		t.Groups = nil
		return
	}
	groups := make([]Group, len(t.Groups))
	for i, g := range t.Groups {
		groups[i] = Group{Name: g.Name, Leader: g.Leader, Members: append([]string(nil), g.Members...)}
	}
	t.Groups = groups
}

// validateGroups checks a transaction's groups against its steps: none
// or a partition of the steps' nodes into groups with distinct names of at
// most MaxGroupName bytes, each leader one of its members, and no acting
// member but one of the group's other members.
func validateGroups(t Txn) error {
	if len(t.Groups) == 0 {
		return nil
	}
	steps := make(map[string]bool, len(t.Steps))
	for _, st := range t.Steps {
		steps[st.Node] = true
	}
	names := map[string]bool{}
	grouped := map[string]string{}
	for _, g := range t.Groups {
		if len(g.Name) == 0 || len(g.Name) > MaxGroupName {
			return fmt.Errorf("%w: group name %q: want 1-%d bytes", ErrInvalid, clip(g.Name), MaxGroupName)
		}
		if names[g.Name] {
			return fmt.Errorf("%w: two groups named %q", ErrInvalid, g.Name)
		}
		names[g.Name] = true
		leaderIn := false
		for _, m := range g.Members {
			if !steps[m] {
				return fmt.Errorf("%w: group %q: member %q has no step", ErrInvalid, g.Name, m)
			}
			if other, dup := grouped[m]; dup {
				return fmt.Errorf("%w: member %q is in groups %q and %q", ErrInvalid, m, other, g.Name)
			}
			grouped[m] = g.Name
			leaderIn = leaderIn || m == g.Leader
		}
		if !leaderIn {
			return fmt.Errorf("%w: group %q: its leader %q is not one of its members", ErrInvalid, g.Name, g.Leader)
		}
		if g.Acting != "" && (g.Acting == g.Leader || !g.has(g.Acting)) {
			return fmt.Errorf("%w: group %q: %q cannot act for it: want one of its members other than its leader", ErrInvalid, g.Name, g.Acting)
		}
	}
	if len(grouped) != len(steps) {
		return fmt.Errorf("%w: %d of the %d nodes with a step are in a group: want all", ErrInvalid, len(grouped), len(steps))
	}
	return nil
}

func (g *Group) has(id string) bool {
	for _, m := range g.Members {
		if m == id {
			return true
		}
	}
	return false
}

// applyGroupActing records who acts for a group of the active transaction.
// The member must be one of the group's members other than its leader, and
// the reason at most MaxVersionError bytes; an acting member already
// recorded is replaced. A transaction that is not active is stale.
func (s *State) applyGroupActing(now time.Time, c GroupActing) error {
	t, ok := s.Txns[c.TxnID]
	if !ok {
		return fmt.Errorf("%w: transaction %q", ErrNotFound, c.TxnID)
	}
	if s.Active != c.TxnID {
		return fmt.Errorf("%w: transaction %s is %s, not active", ErrStale, c.TxnID, t.State)
	}
	t.Groups = append([]Group(nil), t.Groups...) // copies of the state share the old array
	g := t.Group(c.Group)
	if g == nil {
		return fmt.Errorf("%w: transaction %s has no group %q", ErrNotFound, c.TxnID, clip(c.Group))
	}
	if c.Member != "" && (c.Member == g.Leader || !g.has(c.Member)) {
		return fmt.Errorf("%w: %q cannot act for group %q: want one of its members other than its leader %s", ErrInvalid, clip(c.Member), g.Name, g.Leader)
	}
	if len(c.Reason) > MaxVersionError {
		return fmt.Errorf("%w: reason of %d bytes: want at most %d", ErrInvalid, len(c.Reason), MaxVersionError)
	}
	g.Acting, g.ActingReason, g.ActingSince = c.Member, c.Reason, now
	if c.Member == "" {
		g.ActingSince = time.Time{}
	}
	t.UpdatedAt = now
	return nil
}

package strategy

import (
	"errors"
	"fmt"
)

// Strategy is one way of ordering the nodes of a transaction and cutting
// the order into batches. Each strategy is one type in a file of its own,
// registered by name (see Register); the coordinator reaches it only
// through Plan, which checks its answer.
//
// Every method must be a pure function of its arguments: no I/O, no clock,
// no randomness, no dependence on map iteration order or on the order of
// in.Nodes. Plan has checked the input before a strategy sees it: node IDs
// are unique and not empty, maxParallel is at least 1.
type Strategy interface {
	// Name is the strategy's name as given to --strategy and stored in a
	// transaction: lower-case letters, digits and '-', unique in the
	// registry, never changed once released.
	Name() string
	// Summary is one line for --help and documentation, saying what the
	// strategy does, such as "the primary first, then every other node in
	// natural id order".
	Summary() string
	// Order returns the ID of every node of in exactly once, in the order
	// the nodes upgrade, and the reason: a phrase that says which rule
	// decided the order for this input, shown by plan (for instance
	// "primary = Baton's Raft leader n1 (no role hooks), upgraded last").
	// An error means the strategy cannot order these nodes (a missing
	// label, a ring too small); it is the caller's bad input.
	Order(in Input) (order []string, reason string, err error)
	// Batches cuts order, which Order returned for in, into batches that
	// run one after another. Concatenated they must give order back; no
	// batch may be empty, hold more than maxParallel nodes or more voters
	// than QuorumBudget of in's voters. A strategy adds its own constraints
	// (no two ring neighbours together, one group at a time) through
	// CutBatches, which applies the shared ones.
	Batches(order []string, in Input, maxParallel int) ([][]string, error)
}

// Input is what a strategy knows about a cluster when a transaction is
// planned.
type Input struct {
	// Nodes are the members to upgrade: every member of the catalogue.
	Nodes []Node
	// Leader is Baton's Raft leader when the transaction starts, or ""
	// when none is known. It need not be among Nodes.
	Leader string
	// RolesKnown is true when some member has a role hook (its role is
	// recorded): "primary" then means the service's primary, not Baton's
	// leader (docs/switchover.md).
	RolesKnown bool
	// ServicePrimary is the service's recorded primary, or "" when none is
	// known. It is read only when RolesKnown.
	ServicePrimary string
	// Ring is the failover ring (S2), its first node first: the ring
	// strategy reads it. Nodes it does not list are taken as appended in
	// natural id order, and ids that are not nodes are ignored.
	Ring []string
	// GroupBy is --group-by for the grouped strategy (ParseGroupBy; ""
	// is DefaultGroupBy); MaxGroups is how many groups may be in progress
	// at once (0 means 1). The other strategies ignore both.
	GroupBy   string
	MaxGroups int
	// MaxParallel is the max-parallel of the plan; Plan sets it to its own
	// argument, so that a strategy whose order depends on it (grouped,
	// which interleaves groups) can read it in Order.
	MaxParallel int
}

// Node is what a strategy knows about one member.
type Node struct {
	// ID is the member's unique, non-empty Raft server ID.
	ID string
	// Voter is true when the member votes in Raft elections and so counts
	// towards the quorum.
	Voter bool
	// Labels are the member's free-form labels; the strategies of S1 ignore
	// them, later ones (grouped) read them.
	Labels map[string]string
	// Addr is the host of the member's advertised HTTP address (an IP
	// address or a name), which the grouped strategy's subnet grouping
	// reads.
	Addr string
}

// Primary returns the node that primary-aware strategies (secondaries-first,
// primary-first) treat as the primary, and the rule that chose it, for the
// plan's reason. It is the only place that says what "primary" means: the
// service's primary when roles are known (some node has a role hook), and
// Baton's Raft leader otherwise (CLI.md). ok is false, with a rule saying
// why, when there is no primary among the nodes.
func (in Input) Primary() (id, rule string, ok bool) {
	if in.RolesKnown {
		switch {
		case in.ServicePrimary == "":
			return "", "no primary known (the role hooks report none)", false
		case !in.has(in.ServicePrimary):
			return "", fmt.Sprintf("no primary known (the service's primary %s is not a member)", in.ServicePrimary), false
		}
		return in.ServicePrimary, fmt.Sprintf("primary = the service's primary %s (from the role hooks)", in.ServicePrimary), true
	}
	switch {
	case in.Leader == "":
		return "", "no primary known (no Raft leader, no role hooks)", false
	case !in.has(in.Leader):
		return "", fmt.Sprintf("no primary known (the Raft leader %s is not a member, no role hooks)", in.Leader), false
	}
	return in.Leader, fmt.Sprintf("primary = Baton's Raft leader %s (no role hooks)", in.Leader), true
}

// has reports whether id is one of the nodes.
func (in Input) has(id string) bool {
	for _, n := range in.Nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}

// ErrUnknownStrategy is wrapped by every error about a strategy name that is
// not registered.
var ErrUnknownStrategy = errors.New("unknown strategy")

// ErrInvalidNodes is wrapped by every error about a node list or an order that
// cannot be used: an empty or duplicated ID, or an ordered ID that is not a
// known node.
var ErrInvalidNodes = errors.New("invalid nodes")

// ErrBrokenStrategy is wrapped by the error Plan returns when a strategy's
// answer breaks the contract of Strategy: a node left out or placed twice,
// batches that do not give the order back, a batch over a limit. It is a
// bug in the strategy, not bad input.
var ErrBrokenStrategy = errors.New("strategy broke its contract")

// checkIDs reports an empty or duplicated node ID, which would make an order
// ambiguous.
func checkIDs(nodes []Node) error {
	seen := make(map[string]struct{}, len(nodes))
	for i, n := range nodes {
		if n.ID == "" {
			return fmt.Errorf("%w: node %d has an empty ID", ErrInvalidNodes, i)
		}
		if _, dup := seen[n.ID]; dup {
			return fmt.Errorf("%w: node ID %q appears twice", ErrInvalidNodes, n.ID)
		}
		seen[n.ID] = struct{}{}
	}
	return nil
}

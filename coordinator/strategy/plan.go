package strategy

import (
	"fmt"
	"slices"
)

// Result is a strategy's plan of a transaction.
type Result struct {
	// Strategy is the name of the strategy that made the plan.
	Strategy string
	// Order lists every node once, in the order the nodes upgrade.
	Order []string
	// Batches cut Order into the batches that run one after another.
	Batches [][]string
	// Reason says which rule decided the order, for the plan's output.
	Reason string
	// Groups are the groups of a strategy that forms them (grouped), with
	// their leaders, in the order they start; nil for the others.
	Groups []Group
}

// Plan orders the nodes of in with the strategy registered under name and
// cuts the order into batches of at most maxParallel nodes, then checks
// the answer against what every strategy promises (see Strategy), so that
// no strategy can plan a node twice, leave one out or exceed a limit.
//
// It returns an error wrapping ErrUnknownStrategy for an unregistered name,
// one wrapping ErrInvalidNodes when a node ID is empty or appears twice, an
// error when maxParallel < 1, the strategy's own error when it cannot plan
// these nodes, and one wrapping ErrBrokenStrategy when its answer breaks
// the contract. All but the last are bad input. It never modifies in.
func Plan(name string, in Input, maxParallel int) (Result, error) {
	s, err := Lookup(name)
	if err != nil {
		return Result{}, err
	}
	return planWith(s, in, maxParallel)
}

// planWith is Plan with the strategy given.
func planWith(s Strategy, in Input, maxParallel int) (Result, error) {
	if maxParallel < 1 {
		return Result{}, fmt.Errorf("max-parallel %d: must be at least 1", maxParallel)
	}
	if err := checkIDs(in.Nodes); err != nil {
		return Result{}, err
	}
	// The strategy gets its own copy: it must not change the caller's.
	in.Nodes = slices.Clone(in.Nodes)
	in.MaxParallel = maxParallel
	order, reason, err := s.Order(in)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", s.Name(), err)
	}
	if err := checkOrder(order, in.Nodes); err != nil {
		return Result{}, fmt.Errorf("%w: %s: order: %v", ErrBrokenStrategy, s.Name(), err)
	}
	batches, err := s.Batches(slices.Clone(order), in, maxParallel)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", s.Name(), err)
	}
	limit := maxParallel
	if l, ok := s.(batchLimiter); ok {
		limit = l.BatchLimit(in, maxParallel)
	}
	if err := CheckBatches(batches, order, in.Nodes, limit); err != nil {
		return Result{}, fmt.Errorf("%w: %s: batches: %v", ErrBrokenStrategy, s.Name(), err)
	}
	res := Result{Strategy: s.Name(), Order: order, Batches: batches, Reason: reason}
	if g, ok := s.(grouper); ok {
		if res.Groups, err = g.Groups(in); err != nil {
			return Result{}, fmt.Errorf("%s: %w", s.Name(), err)
		}
	}
	return res, nil
}

// batchLimiter is implemented by a strategy whose max-parallel counts
// per part of a batch rather than per batch (grouped: per group), so that
// one batch may hold more nodes than max-parallel. BatchLimit returns the
// most nodes one of its batches may hold; Plan checks that limit instead.
type batchLimiter interface {
	BatchLimit(in Input, maxParallel int) int
}

// checkOrder reports an order that does not hold every node exactly once.
func checkOrder(order []string, nodes []Node) error {
	if len(order) != len(nodes) {
		return fmt.Errorf("%d nodes ordered, want %d", len(order), len(nodes))
	}
	known := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		known[n.ID] = false
	}
	for _, id := range order {
		placed, ok := known[id]
		switch {
		case !ok:
			return fmt.Errorf("%q is not a node", id)
		case placed:
			return fmt.Errorf("%q appears twice", id)
		}
		known[id] = true
	}
	return nil
}

// CheckBatches reports batches that break the limits every strategy must
// keep: concatenated they must give order back, and no batch may be empty,
// hold more than maxParallel nodes, or more voters than QuorumBudget of
// the voters among nodes. It returns nil when they keep them. Plan applies
// it to every strategy's answer; a strategy's tests can too.
func CheckBatches(batches [][]string, order []string, nodes []Node, maxParallel int) error {
	voter, budget := voterBudget(nodes)
	at := 0
	for i, b := range batches {
		if len(b) == 0 {
			return fmt.Errorf("batch %d is empty", i+1)
		}
		if len(b) > maxParallel {
			return fmt.Errorf("batch %d holds %d nodes, max-parallel is %d", i+1, len(b), maxParallel)
		}
		inBatch := 0
		for _, id := range b {
			if at >= len(order) || order[at] != id {
				return fmt.Errorf("batch %d: %q is not next in the order", i+1, id)
			}
			at++
			if voter[id] {
				inBatch++
			}
		}
		if inBatch > budget {
			return fmt.Errorf("batch %d holds %d voters, the quorum budget is %d", i+1, inBatch, budget)
		}
	}
	if at != len(order) {
		return fmt.Errorf("the batches hold %d of the %d ordered nodes", at, len(order))
	}
	return nil
}

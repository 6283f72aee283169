package strategy

import "fmt"

// QuorumBudget returns how many voters may be down at once while a quorum of
// voters stays up: (voters-1)/2. It returns at least 1 when voters >= 1,
// because every voter must be upgraded eventually: a cluster of one or two
// voters has no spare voter, so it loses write availability while a voter
// upgrades, and no strategy can avoid that. It returns 0 when voters <= 0.
func QuorumBudget(voters int) int {
	if voters <= 0 {
		return 0
	}
	return max(1, (voters-1)/2)
}

// Fits reports whether node id may join batch, by a strategy's own
// constraint (a ring strategy: id is no ring neighbour of a node in batch).
// It is asked only about a batch that is not empty and that id fits by the
// shared limits; it must not keep or change batch.
type Fits func(batch []string, id string) bool

// CutBatches cuts an ordered list of node IDs into batches that run one
// after another (S1: the next batch is chosen only once every completion
// notice of the current batch is in). It is the batcher every strategy
// shares: it applies the limits every strategy must keep, and a
// strategy's own constraint through fits (nil for none).
//
// nodes describes the whole cluster: the voter budget is QuorumBudget of
// the voters among nodes, even when order holds only some of them (for
// instance the nodes a resumed transaction still has to upgrade). Each
// batch holds at most maxParallel nodes and at most the voter budget of
// voters. The order is walked greedily and kept as given: a node joins the
// current batch if it fits both limits and fits; otherwise the current
// batch is closed and a new one started with that node. Nodes are never
// reordered to fill batches, so concatenating the batches gives order back;
// a strategy that wants fuller batches orders its nodes so.
//
// CutBatches returns an error when maxParallel < 1, and one wrapping
// ErrInvalidNodes when nodes has an empty or duplicated ID or order names an
// unknown node or the same node twice. An empty order gives no batches. It
// never modifies its arguments.
func CutBatches(order []string, nodes []Node, maxParallel int, fits Fits) ([][]string, error) {
	if maxParallel < 1 {
		return nil, fmt.Errorf("max-parallel %d: must be at least 1", maxParallel)
	}
	if err := checkIDs(nodes); err != nil {
		return nil, err
	}
	voter, budget := voterBudget(nodes)

	var batches [][]string
	var current []string
	currentVoters := 0
	placed := make(map[string]struct{}, len(order))
	for _, id := range order {
		isVoter, known := voter[id]
		if !known {
			return nil, fmt.Errorf("%w: ordered node %q is not a member", ErrInvalidNodes, id)
		}
		if _, dup := placed[id]; dup {
			return nil, fmt.Errorf("%w: node %q appears twice in the order", ErrInvalidNodes, id)
		}
		placed[id] = struct{}{}

		joins := len(current) < maxParallel && (!isVoter || currentVoters < budget) &&
			(fits == nil || len(current) == 0 || fits(current, id))
		if !joins {
			batches = append(batches, current)
			current, currentVoters = nil, 0
		}
		current = append(current, id)
		if isVoter {
			currentVoters++
		}
	}
	if len(current) > 0 {
		batches = append(batches, current)
	}
	return batches, nil
}

// voterBudget says which nodes vote, and how many voters may be down at once
// (QuorumBudget of the voters among nodes).
func voterBudget(nodes []Node) (voter map[string]bool, budget int) {
	voter = make(map[string]bool, len(nodes))
	voters := 0
	for _, n := range nodes {
		voter[n.ID] = n.Voter
		if n.Voter {
			voters++
		}
	}
	return voter, QuorumBudget(voters)
}

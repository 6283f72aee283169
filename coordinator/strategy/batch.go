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

// Batches cuts an ordered list of node IDs into batches that run one after
// another (S1: the next batch is chosen only once every completion notice of
// the current batch is in). nodes describes the whole cluster: the voter
// budget is QuorumBudget of the voters among nodes, even when order holds
// only some of them (for instance the nodes a resumed transaction still has
// to upgrade).
//
// Each batch holds at most maxParallel nodes and at most the voter budget of
// voters. The order is walked greedily and kept as given: a node joins the
// current batch if it fits both limits; otherwise the current batch is
// closed and a new one started with that node. Nodes are never reordered to
// fill batches, so concatenating the batches gives order back.
//
// Batches returns an error when maxParallel < 1, and one wrapping
// ErrInvalidNodes when nodes has an empty or duplicated ID or order names an
// unknown node or the same node twice. An empty order gives no batches. It
// never modifies its arguments.
func Batches(order []string, nodes []Node, maxParallel int) ([][]string, error) {
	if maxParallel < 1 {
		return nil, fmt.Errorf("max-parallel %d: must be at least 1", maxParallel)
	}
	if err := checkIDs(nodes); err != nil {
		return nil, err
	}
	voter := make(map[string]bool, len(nodes))
	voters := 0
	for _, n := range nodes {
		voter[n.ID] = n.Voter
		if n.Voter {
			voters++
		}
	}
	budget := QuorumBudget(voters)

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

		fits := len(current) < maxParallel && (!isVoter || currentVoters < budget)
		if !fits {
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

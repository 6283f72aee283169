package strategy

import (
	"fmt"
	"slices"
)

// Grouped is S4's strategy: the members are split into groups (FormGroups,
// by subnet or label), and the groups upgrade one after another, or
// MaxGroups at once; inside a group at most max-parallel members at once,
// the members first and the group leader last, in a batch after all of
// them. The quorum budget of voters holds for every batch, whatever groups
// it mixes.
const Grouped = "grouped"

// grouped implements Grouped.
type grouped struct{}

// Name implements Strategy.
func (grouped) Name() string { return Grouped }

// Summary implements Strategy.
func (grouped) Summary() string {
	return "group by subnet or label (--group-by), group by group (--max-groups at once), each group's leader last"
}

// Order implements Strategy: the batches of the schedule, concatenated.
func (grouped) Order(in Input) ([]string, string, error) {
	groups, by, err := inputGroups(in)
	if err != nil {
		return nil, "", err
	}
	sched := schedule(groups, in.Nodes, max(1, in.MaxParallel), maxGroups(in))
	reason := fmt.Sprintf("%d group(s) by %s, %d at a time; in each group the members first, then its leader", len(groups), by, maxGroups(in))
	return slices.Concat(sched...), reason, nil
}

// Batches implements Strategy: the schedule Order flattened, which it
// recomputes; maxParallel counts per group (see BatchLimit).
func (grouped) Batches(order []string, in Input, maxParallel int) ([][]string, error) {
	groups, _, err := inputGroups(in)
	if err != nil {
		return nil, err
	}
	sched := schedule(groups, in.Nodes, maxParallel, maxGroups(in))
	if !slices.Equal(slices.Concat(sched...), order) {
		return nil, fmt.Errorf("%w: the order is not the grouped schedule of these nodes with max-parallel %d", ErrInvalidNodes, maxParallel)
	}
	return sched, nil
}

// BatchLimit implements batchLimiter: max-parallel nodes of each of
// MaxGroups groups.
func (grouped) BatchLimit(in Input, maxParallel int) int {
	return maxParallel * maxGroups(in)
}

// Groups returns the groups Order and Batches follow, with their leaders.
func (grouped) Groups(in Input) ([]Group, error) {
	groups, _, err := inputGroups(in)
	return groups, err
}

// grouper is implemented by a strategy that splits the nodes into groups
// (grouped); Plan returns its groups with the plan.
type grouper interface {
	Groups(in Input) ([]Group, error)
}

func maxGroups(in Input) int { return max(1, in.MaxGroups) }

func inputGroups(in Input) ([]Group, GroupBy, error) {
	by, err := ParseGroupBy(in.GroupBy)
	if err != nil {
		return nil, by, err
	}
	if in.MaxGroups < 0 {
		return nil, by, fmt.Errorf("max-groups %d: must be at least 1", in.MaxGroups)
	}
	groups, err := FormGroups(in.Nodes, by)
	return groups, by, err
}

// schedule cuts the groups into batches. Groups enter in their order, at
// most maxGroups in progress: a group is in progress from its first batch
// to the batch of its leader, and the next group enters in the batch after.
// Each batch takes from every group in progress, in group order, its next
// members, at most maxParallel of them, and stops taking voters once the
// batch holds the quorum budget; a group's leader goes alone for its group,
// in a batch after all its members. A batch is never empty: its first node
// always fits.
func schedule(groups []Group, nodes []Node, maxParallel, maxGroups int) [][]string {
	voter, budget := voterBudget(nodes)
	type progress struct {
		g    Group
		next int
	}
	var active []*progress
	pending := groups
	var batches [][]string
	for len(active) > 0 || len(pending) > 0 {
		for len(active) < maxGroups && len(pending) > 0 {
			active = append(active, &progress{g: pending[0]})
			pending = pending[1:]
		}
		var batch []string
		voters := 0
		for _, p := range active {
			taken := 0
			for p.next < len(p.g.Members) && taken < maxParallel {
				id := p.g.Members[p.next]
				if id == p.g.Leader && taken > 0 {
					break // the leader waits for its members' batch to end
				}
				if voter[id] && voters >= budget {
					break
				}
				batch = append(batch, id)
				p.next++
				taken++
				if voter[id] {
					voters++
				}
			}
		}
		batches = append(batches, batch)
		active = slices.DeleteFunc(active, func(p *progress) bool { return p.next == len(p.g.Members) })
	}
	return batches
}

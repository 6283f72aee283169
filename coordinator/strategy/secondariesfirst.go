package strategy

// secondariesFirst is S1's second rule: every node but the primary, in
// natural ID order, then the primary last, so that leadership (or, later,
// the service's primary role) moves once, to a node already upgraded.
// Without a primary among the nodes it falls back to natural ID order.
type secondariesFirst struct{}

// Name implements Strategy.
func (secondariesFirst) Name() string { return SecondariesFirst }

// Summary implements Strategy.
func (secondariesFirst) Summary() string {
	return "every node but the primary in natural id order, then the primary"
}

// Order implements Strategy.
func (secondariesFirst) Order(in Input) ([]string, string, error) {
	primary, rule, ok := in.Primary()
	if !ok {
		return sortedIDs(in.Nodes), rule + ": natural id order", nil
	}
	return append(withoutID(sortedIDs(in.Nodes), primary), primary),
		rule + ", upgraded last; the others first, in natural id order", nil
}

// Batches implements Strategy with the shared limits only.
func (secondariesFirst) Batches(order []string, in Input, maxParallel int) ([][]string, error) {
	return CutBatches(order, in.Nodes, maxParallel, nil)
}

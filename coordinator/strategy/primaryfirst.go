package strategy

// primaryFirst is S1's third rule: the primary first, then the others in
// natural ID order. Without a primary among the nodes it falls back to
// natural ID order.
type primaryFirst struct{}

// Name implements Strategy.
func (primaryFirst) Name() string { return PrimaryFirst }

// Summary implements Strategy.
func (primaryFirst) Summary() string {
	return "the primary first, then every other node in natural id order"
}

// Order implements Strategy.
func (primaryFirst) Order(in Input) ([]string, string, error) {
	primary, rule, ok := in.Primary()
	if !ok {
		return sortedIDs(in.Nodes), rule + ": natural id order", nil
	}
	return append([]string{primary}, withoutID(sortedIDs(in.Nodes), primary)...),
		rule + ", upgraded first; then the others, in natural id order", nil
}

// Batches implements Strategy with the shared limits only.
func (primaryFirst) Batches(order []string, in Input, maxParallel int) ([][]string, error) {
	return CutBatches(order, in.Nodes, maxParallel, nil)
}

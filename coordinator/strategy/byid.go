package strategy

// byID is S1's first rule: every node in natural ID order, one batch after
// another. The primary (Baton's Raft leader) takes its place in that order
// like any other node; the coordinator hands leadership off before its
// batch.
type byID struct{}

// Name implements Strategy.
func (byID) Name() string { return ByID }

// Summary implements Strategy.
func (byID) Summary() string { return "every node in natural id order (n2 before n10)" }

// Order implements Strategy: the IDs in natural order (see CompareID).
func (byID) Order(in Input) ([]string, string, error) {
	return sortedIDs(in.Nodes), "natural id order (n2 before n10)", nil
}

// Batches implements Strategy with the shared limits only.
func (byID) Batches(order []string, in Input, maxParallel int) ([][]string, error) {
	return CutBatches(order, in.Nodes, maxParallel, nil)
}

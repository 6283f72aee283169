// Package strategy decides the order in which the nodes of an upgrade
// transaction are upgraded and how that order is cut into batches that run
// one after another. It holds the node-selection rules of S1 (by-id,
// secondaries-first, primary-first) and S2 (ring) as plug-ins, and the limits every
// strategy keeps so the cluster goes on serving: at most max-parallel nodes
// at once, and never so many voters that the Raft quorum is lost. The
// coordinator calls Plan with what the state machine says about the
// cluster and commits the answer as the transaction's steps; `upgrade plan`
// runs the same call without committing, so the plan shown is the plan run.
//
// # Strategies
//
// A strategy is one type, in a file of its own, that implements Strategy:
// its Name (what --strategy takes), a one-line Summary (what --help and
// the documentation show), its Order of the nodes with a Reason saying
// which rule decided it (what `upgrade plan` prints), and its Batches, the
// order cut under its own constraints. It is registered by name; the
// registry (Register, Lookup, All, Names) is where the coordinator, the
// CLI's help and the API's errors find the strategies. Plan checks every
// strategy's answer against the contract (every node once, batches that
// concatenate to the order, max-parallel and the quorum budget kept), so a
// broken strategy fails with ErrBrokenStrategy instead of planning a node
// twice. The property tests run every registered strategy on random
// clusters and check the same contract, plus determinism.
//
// "Primary" means Baton's Raft leader today (Input.Primary); when services
// report their own primary through role hooks, Input.Primary returns it
// instead, with its rule, and secondaries-first and primary-first follow.
//
// # Adding a strategy
//
// A strategy is added in three places. S2's ring (ring.go: no two ring
// neighbours in one batch; the last and the first are neighbours) was
// added so:
//
//  1. Input gets what the strategy needs to know, if it is new (the ring's
//     order, from the state machine), filled in by the coordinator's plan.
//  2. ring.go holds a type implementing Strategy (below). Order returns
//     every node once, in the order they go, and a reason such as "ring n1
//     n2 n3 n4 n5, every other node". Batches calls CutBatches with a Fits
//     that refuses a node next to one already in the batch; CutBatches
//     applies max-parallel and the quorum budget itself.
//  3. builtin in registry.go lists the type: the CLI's --strategy help, the
//     API's error for an unknown name and the property tests (which check
//     the contract and determinism of every registered strategy) pick it
//     up. Its own rule gets table tests in ring_test.go.
//
// The type, in outline:
//
//	type ring struct{}
//
//	func (ring) Name() string    { return "ring" }
//	func (ring) Summary() string { return "around the failover ring, never two neighbours at once" }
//
//	func (ring) Order(in Input) ([]string, string, error) {
//		// every other node of in.Ring from its first, then the others
//	}
//
//	func (ring) Batches(order []string, in Input, maxParallel int) ([][]string, error) {
//		next := successors(in.Ring) // the last node's successor is the first
//		apart := func(batch []string, id string) bool {
//			return !slices.ContainsFunc(batch, func(x string) bool { return next[x] == id || next[id] == x })
//		}
//		return CutBatches(order, in.Nodes, maxParallel, apart)
//	}
//
// Everything here is a pure function of its arguments. The package must
// never do I/O, read the clock, use randomness or depend on map iteration
// order or on the order of Input.Nodes: the same inputs always give the
// same answer, and the tests can check every case exhaustively.
package strategy

// Package strategy decides the order in which the nodes of an upgrade
// transaction are upgraded and how that order is cut into batches that run
// one after another. It implements the node-selection rules of S1 (by node
// ID, secondaries first with the primary last, primary first) together with
// the limits that keep the cluster serving: at most max-parallel nodes at once
// and never so many voters that the Raft quorum is lost. The coordinator calls
// it with a snapshot of the FSM's state and acts on the answer.
//
// Everything here is a pure function of its arguments. The package must
// never do I/O, read the clock, use randomness or depend on map iteration
// order: the same inputs always give the same answer, so a new leader that
// resumes a transaction after a crash chooses exactly the batches the old one
// would have chosen, and the tests can check every case exhaustively.
package strategy

// Package checker judges a chaos run's history against Baton's invariants
// (I1..I8 and I10 of ARCHITECTURE.md) and checks that the API's consistent reads are
// linearizable against the committed writes (with porcupine). Each checker
// reports pass, or the first counter-example with its time, transaction and
// nodes.
//
// Checkers are pure functions of an Input: they read no files and call no
// agent, so each is tested with hand-made histories, one that breaks the
// invariant and one that keeps it. A checker that cannot fail proves
// nothing.
package checker

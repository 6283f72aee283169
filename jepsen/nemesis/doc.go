// Package nemesis injects the chaos suite's faults: SIGKILL of the leader,
// of a random node or of the node whose step runs (then a restart);
// SIGSTOP/SIGCONT pauses longer than the election timeout; network
// partitions (majority and minority, the leader alone, a bridge) by packet
// filtering inside the suite's namespaces; a node held down (cut off or
// killed) until the others' log is compacted past it, so that it must
// catch up by snapshot; and hooks that fail or hang at a set probability.
// A seeded random generator picks every fault, target and duration, so a
// failing run's schedule is replayed from its seed.
//
// Every fault it injects it heals before it returns, and it records each
// with when it healed and when the cluster served a consistent read again.
package nemesis

// Package coordinator drives upgrade transactions. It runs only on the Raft
// leader: it starts when leadership is gained (after a barrier) and stops
// when it is lost, and everything it knows it reads from the replicated
// state, so a new leader's coordinator simply goes on where the old one
// stopped.
//
// Its loop is driven by changes of the state machine (and by the deadlines
// of the running steps), never by polling on a fixed beat. Its effects go
// through small interfaces (Cluster for the local agent: its state, barrier,
// commits and leadership; Nodes to call other agents), and everything it
// needs is declared on them, so the fakes of its tests take every path the
// real agent does. It must never send a step to a node before the step's
// begin is committed (write-ahead intent), never start the leader's own
// upgrade while it leads (I4), never run more than max-parallel steps at
// once (I3), and never end a rollback that failed as if it had worked.
//
// A few of its methods serve any agent, leader or not: Plan (from the
// agent's own state), and Logs and RunningHooks, which ask the nodes of a
// transaction for their hook output and running hooks, for people to read;
// nothing they learn is ever committed.
//
// Besides Baton's own leadership it hands off the service's primary
// (switchover*.go, docs/switchover.md): it must never begin the step of the
// service's recorded primary before that primary's switch-over is done,
// never promote a replica without checking its lag right before, and never
// run a service hook after a switch-over failed (I10).
package coordinator

// Package node is the agent of one cluster member: it owns Raft (transport,
// raft-boltdb log and stable store, file snapshots, bootstrap and join), the
// replicated state machine, the leader-only duties and, in sub-packages, the
// step executor and its journal. It also runs this node's service-role hooks
// when the leader asks (service.go), and never a promote, demote or follow
// for a switch-over its own replica of the state does not show in that
// phase.
//
// All writes to the replicated state go through Agent.Apply on the leader,
// which bounds the wait for a commit with the caller's context. The agent
// must never act on a command inside the state machine: side effects happen
// here, after a command has committed, and only on the node they concern.
//
// Membership changes go through the leader one at a time: joins
// (membership.go), moves to a new Raft address (membership.go), removals
// (removal.go) and the promotion of non-voters (autopilot.go). An agent
// learns that it was removed in removed.go, and stops; operator.go reports
// the Raft configuration and, without a leader, what is missing for one.
package node

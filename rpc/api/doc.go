// Package api is Baton's HTTP API as its clients see it: the JSON types of
// every request and answer, the names of the events, states and error codes
// on the wire, the sentinel errors a client branches on, and a typed Go
// Client. The CLI, the chaos suite, an embedding service and the agents
// themselves (when they call each other) talk to Baton through it, in the
// manner of Consul's api package.
//
// The types are the wire's own: the server (package rpc) converts its state
// machine's records to them at one edge, so the replicated state can change
// shape without changing what clients read, and a client never needs the
// state machine to understand an answer.
//
// This package must never import anything of Baton's: not fsm, rpc,
// coordinator, node or internal/...; only the standard library (and, if it
// ever needs one, a third-party module). A black-box client that imports it
// must not drag the server in.
package api

// Package procs runs real Baton clusters as processes, for the chaos suite,
// the integration tests and the benchmarks: it builds the baton binary
// (once per set of link-time stamps), picks free loopback ports, starts
// agents as processes, kills, pauses and restarts them with real signals,
// writes the test hooks and reads their journal, reads leadership spans
// from the agents' logs, and runs CLI commands.
//
// It is a black-box client of Baton, like the rest of jepsen/: it talks to
// the agents only through their command line and their API (package
// rpc/api), and must never import the server's packages (fsm, rpc,
// coordinator, node) or internal/..., so that the chaos suite stays
// importable, and honest, from outside this module.
//
// It must only ever bind to loopback addresses, or to the addresses of
// network namespaces its caller created itself (the chaos suite runs agents
// under `ip netns exec` through Agent.Wrap), and every process it starts is
// stopped when the test ends (or, for a cluster made by NewClusterAt, when
// its caller closes it).
package procs
